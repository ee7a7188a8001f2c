"""Sampling under viewers: a real daemon's samples per second with no status-API clients, and
with many clients polling ``/rank``, measured in the same run.

Three processes besides this one: the daemon (``throne run`` on a local chain and a SQLite log,
or the PostgreSQL log given with ``--db``), the miners (``throne miner serve``, answering at once
unless ``--latency-ms``, so the daemon is bound by its own CPU: the harshest case for viewers)
and the clients (one process running every client on one event loop, each asking ``/rank`` once
every ``--interval`` seconds, from a random start). Phases alternate, quiet then loaded, so that
drift in the machine's load falls on both; the ratio is the median loaded rate over the median
quiet rate. The target is a ratio of at least 0.90.

On a machine of two cores the clients' process and the miners' process take CPU the daemon
could have used: the table gives each process's CPU per phase (in cores), so that what the
daemon loses to serving and what it loses to its neighbours can be told apart.

    .venv/bin/python -m bench.status_load [--clients 200] [--interval 1.0] [--seconds 20]
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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from throne.adapters.chain.local import LocalChain

NETUID = 120
ENTRY_POINT = [sys.executable, "-m", "throne.cli.main"]
CLIENTS_ENTRY = [sys.executable, "-m", "bench.status_load", "--poll-rank"]
SAMPLES = re.compile(r"^throne_samples_scored_total\{[^}]*\} ([0-9.e+]+)$", re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and of its waited-for children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


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
    miners_cpu: float
    clients_cpu: float = 0.0
    requests: int = 0
    errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.samples / self.seconds


def measure(
    name: str, base: str, daemon: int, miners: int, seconds: float, clients: int | None = None
) -> Phase:
    """Samples recorded and CPU used by each process over ``seconds``."""
    n0, d0, m0 = samples_scored(base), cpu_seconds(daemon), cpu_seconds(miners)
    c0 = cpu_seconds(clients) if clients else 0.0
    t0 = time.perf_counter()
    time.sleep(seconds)
    n1, d1, m1 = samples_scored(base), cpu_seconds(daemon), cpu_seconds(miners)
    c1 = cpu_seconds(clients) if clients else 0.0
    wall = time.perf_counter() - t0
    return Phase(name, wall, n1 - n0, (d1 - d0) / wall, (m1 - m0) / wall, (c1 - c0) / wall)


@contextmanager
def polling_clients(
    base: str, count: int, interval: float
) -> Iterator[tuple[subprocess.Popen[str], dict[str, float]]]:
    process = subprocess.Popen(
        [*CLIENTS_ENTRY, base, "--clients", str(count), "--interval", str(interval)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    report: dict[str, float] = {}
    try:
        assert process.stdout is not None and process.stdin is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the clients did not start")
        yield process, report
        process.stdin.close()  # the clients stop, then print what they saw
        report.update(json.loads(process.stdout.readline()))
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)


async def poll_rank(base: str, count: int, interval: float) -> dict[str, float]:
    """``count`` clients asking ``/rank`` every ``interval`` s until stdin closes; after all
    of them had one answer, print ``ready``."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    first = asyncio.Event()
    answered = 0
    done = asyncio.Event()
    measuring = False

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors, answered
        await asyncio.sleep(random.uniform(0, interval))
        got_first = False
        while not done.is_set():
            start = time.perf_counter()
            try:
                async with session.get(f"{base}/rank") as r:
                    await r.read()
                    ok = r.status == 200
            except aiohttp.ClientError:
                ok = False
            if measuring:
                latencies.append(time.perf_counter() - start)
                errors += not ok
            if not got_first:
                got_first = True
                answered += 1
                if answered == count:
                    first.set()
            wait = interval - (time.perf_counter() - start)
            if wait > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), wait)

    connector = aiohttp.TCPConnector(limit=count)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(count)]
        await first.wait()
        measuring = True
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        done.set()
        await asyncio.gather(*tasks)
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0.0,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
    }


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
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one phase")
    parser.add_argument("--repeats", type=int, default=2, help="quiet/loaded pairs")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds after the first sample")
    parser.add_argument("--miners", type=int, default=16)
    parser.add_argument("--sampling-count", type=int, default=200, help="per env")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--block-time", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=0.5, help="the daemon's poll_seconds")
    parser.add_argument("--db", default="", help="the log's URL (default: a SQLite file)")
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--poll-rank", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll_rank:
        report = asyncio.run(poll_rank(args.poll_rank, args.clients, args.interval))
        print(json.dumps(report), flush=True)
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
            try:
                wait_for_sampling(base, 120)
                time.sleep(args.warmup)
                phases: list[Phase] = []
                for _ in range(max(1, args.repeats)):
                    phases.append(measure("quiet", base, daemon.pid, miners_pid, args.seconds))
                    with polling_clients(base, args.clients, args.interval) as (clients, seen):
                        phase = measure(
                            "loaded", base, daemon.pid, miners_pid, args.seconds, clients.pid
                        )
                    phase.requests = int(seen["requests"])
                    phase.errors = int(seen["errors"])
                    phase.p50_ms, phase.p99_ms = seen["p50_ms"], seen["p99_ms"]
                    phases.append(phase)
            finally:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)

    print(
        f"{args.miners} miners, concurrency {args.concurrency}, miner latency "
        f"{args.latency_ms:g} ms; loaded = {args.clients} clients polling /rank every "
        f"{args.interval:g} s; {args.seconds:g} s per phase"
    )
    print(
        f"{'phase':<8} {'samples/s':>9} {'daemon CPU':>10} {'miners CPU':>10} "
        f"{'clients CPU':>11} {'/rank req/s':>11} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7}"
    )
    for p in phases:
        print(
            f"{p.name:<8} {p.rate:>9.1f} {p.daemon_cpu:>10.2f} {p.miners_cpu:>10.2f} "
            f"{p.clients_cpu:>11.2f} {p.requests / p.seconds:>11.0f} {p.errors:>6} "
            f"{p.p50_ms:>7.1f} {p.p99_ms:>7.1f}"
        )
    quiet = statistics.median(p.rate for p in phases if p.name == "quiet")
    loaded = statistics.median(p.rate for p in phases if p.name == "loaded")
    ratio = loaded / quiet if quiet else 0.0
    verdict = "PASS" if ratio >= args.target else "FAIL"
    print(
        f"\nsamples/s loaded / quiet: {loaded:.1f} / {quiet:.1f} = {ratio:.2f} "
        f"({verdict}: target >= {args.target:.2f}); CPU in cores, 1.00 = one core busy"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} at the end of the run")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
