"""Ticks under viewers: how long a real daemon's contest ticks take with nobody watching, and
with many viewers polling the status API's JSON endpoints, measured in the same run.

The daemon is built as ``throne run`` builds it (`throne.app.build`, from a settings file), on
a local chain and a SQLite log (or the PostgreSQL log given with ``--db``), in this process; its
status API runs in a process of its own, as in production. Each tick's duration is the one the
daemon itself measures and hands to ``ThroneMetrics.observe_tick`` (``throne_tick_seconds``):
the standings read and every step due written, from the tick loop. The miners are one
``throne miner serve`` process answering at once (unless ``--latency-ms``), so that the contest
moves as fast as the daemon can move it; with ``--sampling-count`` samples per env a battle
takes seconds, and the daemon ticks after each batch of samples it records.

The viewers are one process running every viewer on one event loop. Each asks, in turn,
``/rank``, ``/history``, ``/weights`` and ``/miners/UID`` (a random miner), waiting 1 to 2
``--interval`` between requests, from a random start: what the web dashboard's pages ask of the
same app. Phases alternate, quiet, loaded, quiet, ..., so that a drift in the machine's load
falls on both kinds alike; each configuration's percentiles are over all the ticks of its
phases, and the ratios are loaded over quiet.

On a machine of two cores the viewers' process, the status server's and the miners' take CPU
the daemon could have used: the table gives each one's CPU per phase (in cores).

    .venv/bin/python -m bench.viewers [--viewers 200] [--interval 1.0] [--seconds 12]
        [--pairs 3] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.status_load import Clients, cpu_seconds, miner_server, status_server, write_world
from throne import event_loop

VIEWERS_ENTRY = [sys.executable, "-m", "bench.viewers", "--poll-base"]
ENDPOINTS = ("/rank", "/history", "/weights", "/miners/{uid}")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Phase:
    name: str
    seconds: float
    ticks: list[float]
    samples: float
    daemon_cpu: float
    status_cpu: float
    miners_cpu: float
    viewers_cpu: float
    requests: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0


class Probe:
    """What the daemon reports of its ticks and samples, kept for the phase under way: each
    tick's duration as the daemon times it, wrapped around ``observe_tick`` of its metrics."""

    def __init__(self, metrics: Any) -> None:
        self.ticks: list[float] = []
        self._metrics = metrics
        observe = metrics.observe_tick

        def timed(block: int, steps: Iterable[str] = (), seconds: float | None = None) -> None:
            if seconds is not None:
                self.ticks.append(seconds)
            observe(block, steps, seconds)

        metrics.observe_tick = timed

    def samples(self) -> float:
        return sum(
            s.value
            for family in self._metrics.samples_scored.collect()
            for s in family.samples
            if s.name.endswith("_total")
        )


class Viewers(Clients):
    """The viewers' process: told ``poll`` every viewer polls until told ``pause``, then it
    prints what they saw; it keeps its connections open in between."""

    def __init__(self, base: str, count: int, interval: float, uids: int) -> None:
        command = [*VIEWERS_ENTRY, base, "--viewers", str(count), "--interval", str(interval)]
        self._start([*command, "--miners", str(uids)])


@dataclass
class Round:
    """One loaded phase as the viewers see it."""

    count: int
    interval: float
    miners: int
    latencies: list[float] = field(default_factory=list)
    served: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    answered: int = 0
    everyone: asyncio.Event = field(default_factory=asyncio.Event)
    paused: asyncio.Event = field(default_factory=asyncio.Event)

    def report(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies),
            "errors": self.errors,
            "p50_ms": 1000 * percentile(self.latencies, 0.50),
            "p99_ms": 1000 * percentile(self.latencies, 0.99),
            "served": dict(self.served),
        }


async def viewer(session: Any, base: str, state: Round) -> None:
    """Ask for each endpoint in turn, 1 to 2 intervals apart, from a random start, until
    paused."""
    import aiohttp

    turn = random.randrange(len(ENDPOINTS))
    with suppress(TimeoutError):
        await asyncio.wait_for(state.paused.wait(), random.uniform(0, state.interval))
    first = True
    while not state.paused.is_set():
        path = ENDPOINTS[turn % len(ENDPOINTS)].format(uid=random.randint(1, state.miners))
        turn += 1
        start = time.perf_counter()
        try:
            async with session.get(base + path) as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        state.latencies.append(time.perf_counter() - start)
        state.errors += not ok
        state.served[path.split("/")[1]] += ok
        if first:
            first = False
            state.answered += 1
            if state.answered == state.count:
                state.everyone.set()
        wait = random.uniform(state.interval, 2 * state.interval)
        with suppress(TimeoutError):
            await asyncio.wait_for(state.paused.wait(), wait)


async def poll(base: str, count: int, interval: float, miners: int) -> None:
    """Serve the commands of :class:`Viewers` on stdin: on ``poll``, ``count`` viewers start
    and ``polling`` is printed once every one of them had an answer (what came before is not
    counted); on ``pause`` they stop and their figures are printed as one JSON line."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=count)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while (await asyncio.to_thread(sys.stdin.readline)).strip() == "poll":
            state = Round(count, interval, miners)
            tasks = [asyncio.create_task(viewer(session, base, state)) for _ in range(count)]
            await state.everyone.wait()
            state.latencies.clear()
            state.served.clear()
            state.errors = 0
            print("polling", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            state.paused.set()
            await asyncio.gather(*tasks)
            print(json.dumps(state.report()), flush=True)


async def measure(
    name: str, probe: Probe, miners: int, seconds: float, viewers: int | None = None
) -> Phase:
    """The ticks, samples and CPU of each process over ``seconds``."""
    me = os.getpid()
    status = status_server(me)
    apart = frozenset({*status, miners, *([viewers] if viewers else [])})

    def cpu() -> tuple[float, float, float, float]:
        return (
            cpu_seconds(me, apart),
            sum(cpu_seconds(p) for p in status),
            cpu_seconds(miners),
            cpu_seconds(viewers) if viewers else 0.0,
        )

    before, samples = cpu(), probe.samples()
    probe.ticks = []
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    ticks, after = probe.ticks, cpu()
    wall = time.perf_counter() - t0
    used = [(b - a) / wall for a, b in zip(before, after, strict=True)]
    return Phase(name, wall, ticks, probe.samples() - samples, *used)


async def drive(args: argparse.Namespace, services: Any, base: str, miners: int) -> list[Phase]:
    """Run the daemon and, beside it, the phases; the daemon stops when they are done."""
    probe = Probe(services.metrics)
    stop = asyncio.Event()
    daemon = asyncio.create_task(services.daemon.run(stop))
    viewers = Viewers(base, args.viewers, args.interval, args.miners)
    phases: list[Phase] = []
    try:
        deadline = time.monotonic() + 120
        while probe.samples() == 0:
            if time.monotonic() > deadline or daemon.done():
                raise RuntimeError("the daemon recorded no sample within 120 s")
            await asyncio.sleep(0.5)
        await asyncio.sleep(args.warmup)
        phases.append(await measure("quiet", probe, miners, args.seconds))
        for _ in range(max(1, args.pairs)):
            await asyncio.to_thread(viewers.poll)
            phase = await measure("loaded", probe, miners, args.seconds, viewers.process.pid)
            seen = await asyncio.to_thread(viewers.pause)
            phase.requests, phase.errors = int(seen["requests"]), int(seen["errors"])
            phase.p50_ms, phase.p99_ms = seen["p50_ms"], seen["p99_ms"]
            phases.append(phase)
            phases.append(await measure("quiet", probe, miners, args.seconds))
    finally:
        await asyncio.to_thread(viewers.close)
        stop.set()
        await daemon
        await services.close_clients()
    return phases


def report(args: argparse.Namespace, phases: list[Phase]) -> float:
    """Print the tables; the loaded configuration's p95 tick over the quiet one's."""
    print(
        f"{args.miners} miners, {args.sampling_count} samples per env, concurrency "
        f"{args.concurrency}, miner latency {args.latency_ms:g} ms; loaded = {args.viewers} "
        f"viewers polling {', '.join(ENDPOINTS)} every {args.interval:g}-{2 * args.interval:g} s; "
        f"{args.seconds:g} s per phase"
    )
    print(
        f"{'phase':<7} {'ticks':>5} {'p50 ms':>7} {'p95 ms':>7} {'samples/s':>9} "
        f"{'daemon CPU':>10} {'status CPU':>10} {'miners CPU':>10} {'viewers CPU':>11} "
        f"{'req/s':>6} {'errors':>6} {'req p50':>7} {'req p99':>7} {'p50 vs around':>13}"
    )
    # Each loaded phase's p50 tick against the mean of the quiet phases either side of it: a
    # drift in the machine's load (other work on it) falls on both sides of that comparison.
    paired = []
    for i, p in enumerate(phases):
        shown = ""
        if p.name == "loaded":
            around = [percentile(phases[j].ticks, 0.5) for j in (i - 1, i + 1)]
            paired.append(percentile(p.ticks, 0.5) / statistics.mean(around) if all(around) else 0)
            shown = f"{paired[-1]:.2f}"
        print(
            f"{p.name:<7} {len(p.ticks):>5} {1000 * percentile(p.ticks, 0.5):>7.1f} "
            f"{1000 * percentile(p.ticks, 0.95):>7.1f} {p.samples / p.seconds:>9.1f} "
            f"{p.daemon_cpu:>10.2f} {p.status_cpu:>10.2f} {p.miners_cpu:>10.2f} "
            f"{p.viewers_cpu:>11.2f} {p.requests / p.seconds:>6.0f} {p.errors:>6} "
            f"{p.p50_ms:>7.1f} {p.p99_ms:>7.1f} {shown:>13}"
        )
    print()
    print(
        f"{'configuration':<14} {'ticks':>6} {'tick p50 ms':>11} {'tick p95 ms':>11} "
        f"{'samples/s':>9} {'requests':>8} {'errors':>6}"
    )
    figures = {}
    for name, shown in (("quiet", "no viewers"), ("loaded", f"{args.viewers} viewers")):
        of = [p for p in phases if p.name == name]
        ticks = [t for p in of for t in p.ticks]
        # the median phase's rate: other work on the machine comes and goes in bursts
        rate = statistics.median(p.samples / p.seconds for p in of)
        figures[name] = (percentile(ticks, 0.5), percentile(ticks, 0.95), rate)
        print(
            f"{shown:<14} {len(ticks):>6} {1000 * figures[name][0]:>11.1f} "
            f"{1000 * figures[name][1]:>11.1f} {rate:>9.1f} "
            f"{sum(p.requests for p in of):>8} {sum(p.errors for p in of):>6}"
        )
    ratios = [
        loaded / quiet if quiet else 0.0
        for quiet, loaded in zip(figures["quiet"], figures["loaded"], strict=True)
    ]
    print(
        f"{'ratio':<14} {'':>6} {ratios[0]:>11.2f} {ratios[1]:>11.2f} {ratios[2]:>9.2f}"
        f"   (with viewers / without)"
    )
    print(
        f"the loaded phases' p50 tick, each against the quiet phases around it: median "
        f"{statistics.median(paired):.2f} of {len(paired)}"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} at the end of the run")
    return ratios[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=200, help="viewers in a loaded phase")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="a viewer waits 1 to 2 of these (s)"
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="length of one phase")
    parser.add_argument(
        "--pairs", type=int, default=3, help="loaded phases, each between two quiet ones"
    )
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds after the first sample")
    parser.add_argument("--miners", type=int, default=24, help="miners on the chain")
    parser.add_argument("--sampling-count", type=int, default=100, help="per env")
    parser.add_argument("--concurrency", type=int, default=16, help="the sampler's")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="each miner's answer")
    parser.add_argument("--block-time", type=float, default=2.0, help="seconds per block")
    parser.add_argument("--poll", type=float, default=0.5, help="the daemon's poll_seconds")
    parser.add_argument("--db", default="", help="the log's URL (default: a SQLite file)")
    parser.add_argument(
        "--max-ratio",
        type=float,
        default=1.5,
        help="the most the p95 tick may grow with viewers (exit 1 beyond)",
    )
    parser.add_argument("--poll-base", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll_base:
        asyncio.run(poll(args.poll_base, args.viewers, args.interval, args.miners))
        return 0
    if args.viewers < 1 or args.seconds <= 0 or args.interval <= 0 or args.miners < 2:
        parser.error("--viewers, --seconds and --interval must be positive; --miners at least 2")

    from throne.app import build
    from throne.daemon.settings import load_settings
    from throne.envs.registry import environments, episodic_environments
    from throne.observability.logging import configure_logging

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory() as tmp, miner_server(args.miners, args.latency_ms) as m:
        root = Path(tmp)
        miners_url, miners_pid = m
        config, port = write_world(root, miners_url, args)
        ranges = {n: e.id_range for n, e in environments().items()}
        optional = {n: e.id_range for n, e in episodic_environments().items()}
        services = build(load_settings(config, ranges, optional))
        try:
            base = f"http://127.0.0.1:{port}"
            phases = event_loop.run(drive(args, services, base, miners_pid))
        finally:
            services.close_sync()
    ratio = report(args, phases)
    verdict = "PASS" if ratio <= args.max_ratio else "FAIL"
    print(f"{verdict}: p95 tick with viewers / without = {ratio:.2f}, at most {args.max_ratio:.2f}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
