"""Sampling under viewers: a real daemon's samples per second with no status-API clients, and
with many clients polling ``/rank``, measured in the same run.

Three processes besides this one: the daemon (``throne run`` on a local chain and a SQLite log,
or the PostgreSQL log given with ``--db``), the miners (``throne miner serve``, answering at once
unless ``--latency-ms``, so the daemon is bound by its own CPU: the harshest case for viewers)
and the clients (one process running every client on one event loop, each asking ``/rank`` once
every ``--interval`` seconds, from a random start; it keeps its connections between phases).
Phases alternate, quiet, loaded, quiet, ..., so that a drift in the machine's load (other work
on it) falls on both kinds alike; the ratio is the median loaded rate over the median quiet rate
(medians, because other work comes and goes in bursts), and its target is at least 0.90. Each
loaded phase against the mean of its two neighbours is shown too, with their median.

The daemon's own CPU time per sample, loaded against quiet, says whether serving takes from
sampling inside the daemon; it is less sensitive to other work on the machine than the rate.

On a machine of two cores the clients' process, the miners' process and the status server's
process take CPU the daemon could have used: the table gives each one's CPU per phase (in
cores), so that what the daemon loses to serving and what it loses to its neighbours can be
told apart.

    .venv/bin/python -m bench.status_load [--clients 200] [--interval 1.0] [--seconds 10]
        [--pairs 6] [--path /rank] [--db postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from throne.adapters.chain.local import LocalChain

NETUID = 120
ENTRY_POINT = [sys.executable, "-m", "throne.cli.main"]
CLIENTS_ENTRY = [sys.executable, "-m", "bench.status_load", "--poll-url"]
SAMPLES = re.compile(r"^throne_samples_scored_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int, apart: frozenset[int] = frozenset()) -> float:
    """User and system CPU time of a process and of every process below it (the daemon's
    sandbox runs the miners' programs in child processes) but those ``apart`` and theirs,
    from Linux /proc."""
    total = 0.0
    for p in [pid, *descendants(pid, apart)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended in between: its time is in its parent's waited-for children
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def descendants(pid: int, apart: frozenset[int] = frozenset()) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return found  # the process ended (a sandboxed program, say) while we looked
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
        for child in children:
            if child not in apart:
                found += [child, *descendants(child, apart)]
    return found


def status_server(daemon: int) -> frozenset[int]:
    """The daemon's status server, when it runs in a child process of its own."""
    found = set()
    for p in descendants(daemon):
        try:
            if b"throne.observability.status_process" in Path(f"/proc/{p}/cmdline").read_bytes():
                found.add(p)
        except (FileNotFoundError, ProcessLookupError):  # it ended in between
            continue
    return frozenset(found)


def hotkey(i: int) -> str:
    return f"5Bench{i:03d}"


def skill(i: int, miners: int) -> float:
    return round(0.2 + 0.7 * i / max(1, miners - 1), 3)


@contextmanager
def miner_server(miners: int, latency_ms: float) -> Iterator[tuple[str, int]]:
    first = ["--name", "m0", "--revision", "r1", "--skill", str(skill(0, miners))]
    extra = [f"--miner=m{i}={skill(i, miners)}" for i in range(1, miners)]
    serve = ["miner", "serve", "--port", "0", "--latency-ms", str(latency_ms)]
    process = subprocess.Popen(
        [*ENTRY_POINT, *serve, *first, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        match = re.search(r"at (http://\S+/v1)", process.stdout.readline())
        if match is None:
            raise RuntimeError("the miner server did not start")
        yield match.group(1), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_world(root: Path, miners_url: str, args: argparse.Namespace) -> tuple[Path, int]:
    chain_db = root / "chain.db"
    chain = LocalChain.init(chain_db, netuid=NETUID, block_time=args.block_time)
    chain.register(NETUID, "validator")
    routes = {}
    for i in range(args.miners):
        hk = hotkey(i)
        model = f"bench/affine-m{i}-{hk}"
        chain.register(NETUID, hk)
        chain.as_signer(hk).commit(NETUID, json.dumps({"model": model, "revision": "r1"}))
        chain.advance(1)
        routes[model] = {"base_url": miners_url, "model": f"m{i}"}
    (root / "secret").write_bytes(bytes(32))
    port = free_port()
    db = args.db or f"sqlite:///{root / 'throne.db'}"
    lines = [
        "[validator]",
        f"db = {json.dumps(db)}",
        f"chain_db = {json.dumps(str(chain_db))}",
        'hotkey = "validator"',
        f"data_dir = {json.dumps(str(root / 'data'))}",
        f"pool_secret_file = {json.dumps(str(root / 'secret'))}",
        f"poll_seconds = {args.poll}",
        f"status_port = {port}",
        "[contest]",
        "refresh_blocks = 1000000",
        "battle_deadline_blocks = 1000000",
        "[sampler]",
        f"concurrency = {args.concurrency}",
        "retries = 0",
    ]
    for env in ("SAT", "ABD", "DED"):
        lines += [f"[envs.{env}]", f"sampling_count = {args.sampling_count}"]
    for model, route in routes.items():
        lines += [f'[inference.routes."{model}"]']
        lines += [f"{k} = {json.dumps(v)}" for k, v in route.items()]
    config = root / "throne.toml"
    config.write_text("\n".join(lines) + "\n")
    return config, port


def samples_scored(base: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(float(v) for v in SAMPLES.findall(text))


@dataclass
class Phase:
    name: str
    seconds: float
    samples: float
    daemon_cpu: float
    status_cpu: float
    miners_cpu: float
    clients_cpu: float
    requests: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.samples / self.seconds

    @property
    def cpu_per_sample_ms(self) -> float:
        return 1000 * self.daemon_cpu / self.rate if self.rate else 0.0


def measure(
    name: str, base: str, daemon: int, miners: int, seconds: float, clients: int | None = None
) -> Phase:
    """Samples recorded and CPU used by each process over ``seconds``."""
    status = status_server(daemon)

    def cpu() -> tuple[float, float, float, float]:
        return (
            cpu_seconds(daemon, status),
            sum(cpu_seconds(p) for p in status),
            cpu_seconds(miners),
            cpu_seconds(clients) if clients else 0.0,
        )

    n0, before = samples_scored(base), cpu()
    t0 = time.perf_counter()
    time.sleep(seconds)
    n1, after = samples_scored(base), cpu()
    wall = time.perf_counter() - t0
    daemon_cpu, status_cpu, miners_cpu, clients_cpu = (
        (b - a) / wall for a, b in zip(before, after, strict=True)
    )
    return Phase(name, wall, n1 - n0, daemon_cpu, status_cpu, miners_cpu, clients_cpu)


class Clients:
    """The clients' process: told ``poll`` it makes every client poll until told ``pause``,
    then prints what they saw; it keeps its connections open in between."""

    def __init__(self, url: str, count: int, interval: float) -> None:
        self._start([*CLIENTS_ENTRY, url, "--clients", str(count), "--interval", str(interval)])

    def _start(self, command: list[str]) -> None:
        """The clients' process, run as ``command`` (`bench.viewers` runs its own)."""
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def _say(self, command: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def poll(self) -> None:
        if self._say("poll") != "polling":
            raise RuntimeError("the clients did not start polling")

    def pause(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self._say("pause"))
        return report

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@dataclass
class Round:
    """One loaded phase as the clients see it."""

    count: int
    interval: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    answered: int = 0
    everyone: asyncio.Event = field(default_factory=asyncio.Event)
    paused: asyncio.Event = field(default_factory=asyncio.Event)

    def report(self) -> dict[str, float]:
        done = sorted(self.latencies)
        return {
            "requests": len(done),
            "errors": self.errors,
            "p50_ms": 1000 * done[len(done) // 2] if done else 0.0,
            "p99_ms": 1000 * done[int(len(done) * 0.99)] if done else 0.0,
        }


async def client(session: Any, url: str, state: Round) -> None:
    """Ask for ``url`` every ``state.interval`` s, from a random start, until paused."""
    import aiohttp

    with suppress(TimeoutError):
        await asyncio.wait_for(state.paused.wait(), random.uniform(0, state.interval))
    first = True
    while not state.paused.is_set():
        start = time.perf_counter()
        try:
            async with session.get(url) as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        state.latencies.append(time.perf_counter() - start)
        state.errors += not ok
        if first:
            first = False
            state.answered += 1
            if state.answered == state.count:
                state.everyone.set()
        wait = state.interval - (time.perf_counter() - start)
        if wait > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(state.paused.wait(), wait)


async def poll(url: str, count: int, interval: float) -> None:
    """Serve the commands of :class:`Clients` on stdin: on ``poll``, ``count`` clients ask
    for ``url`` every ``interval`` s, and ``polling`` is printed once every one of them had an
    answer (what came before is not counted); on ``pause`` they stop and their figures are
    printed as one JSON line."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=count)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while (await asyncio.to_thread(sys.stdin.readline)).strip() == "poll":
            state = Round(count, interval)
            tasks = [asyncio.create_task(client(session, url, state)) for _ in range(count)]
            await state.everyone.wait()
            state.latencies.clear()
            state.errors = 0
            print("polling", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            state.paused.set()
            await asyncio.gather(*tasks)
            print(json.dumps(state.report()), flush=True)


def wait_for_sampling(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if samples_scored(base) > 0:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the daemon recorded no sample within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one phase")
    parser.add_argument(
        "--pairs", type=int, default=6, help="loaded phases, each between two quiet ones"
    )
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after the first sample")
    parser.add_argument("--miners", type=int, default=24)
    parser.add_argument("--sampling-count", type=int, default=300, help="per env")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--block-time", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=0.5, help="the daemon's poll_seconds")
    parser.add_argument("--db", default="", help="the log's URL (default: a SQLite file)")
    parser.add_argument("--path", default="/rank", help="what the clients poll")
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--poll-url", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll_url:
        asyncio.run(poll(args.poll_url, args.clients, args.interval))
        return 0

    with tempfile.TemporaryDirectory() as tmp, miner_server(args.miners, args.latency_ms) as m:
        root = Path(tmp)
        miners_url, miners_pid = m
        config, port = write_world(root, miners_url, args)
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
        with (root / "daemon.log").open("wb") as log:
            daemon = subprocess.Popen(
                [*ENTRY_POINT, "run", "--config", str(config), "--log-level", "warning"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
            )
            clients = Clients(base + args.path, args.clients, args.interval)
            try:
                wait_for_sampling(base, 120)
                time.sleep(args.warmup)
                phases = [measure("quiet", base, daemon.pid, miners_pid, args.seconds)]
                for _ in range(max(1, args.pairs)):
                    clients.poll()
                    phase = measure(
                        "loaded", base, daemon.pid, miners_pid, args.seconds, clients.process.pid
                    )
                    seen = clients.pause()
                    phase.requests, phase.errors = int(seen["requests"]), int(seen["errors"])
                    phase.p50_ms, phase.p99_ms = seen["p50_ms"], seen["p99_ms"]
                    phases.append(phase)
                    phases.append(measure("quiet", base, daemon.pid, miners_pid, args.seconds))
            finally:
                clients.close()
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)

    print(
        f"{args.miners} miners, concurrency {args.concurrency}, miner latency "
        f"{args.latency_ms:g} ms; loaded = {args.clients} clients polling {args.path} every "
        f"{args.interval:g} s; {args.seconds:g} s per phase"
    )
    print(
        f"{'phase':<8} {'samples/s':>9} {'daemon CPU':>10} {'ms/sample':>9} {'status CPU':>10} "
        f"{'miners CPU':>10} "
        f"{'clients CPU':>11} {'req/s':>6} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6}"
    )
    # Each loaded phase against the mean of the quiet phases on either side of it, so that a
    # drift in the machine's load (other work on it) falls on both sides of the comparison.
    ratios = []
    for i, p in enumerate(phases):
        shown = ""
        if p.name == "loaded":
            around = (phases[i - 1].rate + phases[i + 1].rate) / 2
            ratios.append(p.rate / around if around else 0.0)
            shown = f"{ratios[-1]:.2f}"
        print(
            f"{p.name:<8} {p.rate:>9.1f} {p.daemon_cpu:>10.2f} {p.cpu_per_sample_ms:>9.1f} "
            f"{p.status_cpu:>10.2f} {p.miners_cpu:>10.2f} "
            f"{p.clients_cpu:>11.2f} {p.requests / p.seconds:>6.0f} {p.errors:>6} "
            f"{p.p50_ms:>7.1f} {p.p99_ms:>7.1f} {shown:>6}"
        )

    def median(what: str, of: Callable[[Phase], float]) -> float:
        return statistics.median(of(p) for p in phases if p.name == what)

    quiet, loaded = median("quiet", lambda p: p.rate), median("loaded", lambda p: p.rate)
    ratio = loaded / quiet if quiet else 0.0
    verdict = "PASS" if ratio >= args.target else "FAIL"
    print(
        f"\nsamples/s loaded / quiet: {loaded:.1f} / {quiet:.1f} = {ratio:.2f} (medians of "
        f"{len(ratios)} loaded and {len(ratios) + 1} quiet phases); {verdict}: target >= "
        f"{args.target:.2f}; the median of the loaded phases each against its neighbours: "
        f"{statistics.median(ratios):.2f}"
    )
    per_sample = [median(w, lambda p: p.cpu_per_sample_ms) for w in ("loaded", "quiet")]
    print(
        f"the daemon's own CPU per sample (its status server apart): {per_sample[0]:.1f} ms "
        f"loaded / {per_sample[1]:.1f} ms quiet = {per_sample[0] / per_sample[1]:.2f}"
    )
    print(
        f"CPU in cores (1.00 = one core busy) while loaded: the status server "
        f"{median('loaded', lambda p: p.status_cpu):.2f}, the clients' process "
        f"{median('loaded', lambda p: p.clients_cpu):.2f}, both on the daemon's machine"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} at the end of the run")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
