"""Inference client throughput and overhead against local miners on loopback.

Throughput: C requests in flight against a miner answering after a fixed L; the bound is C/L
requests per second, and the target is at least 90 % of it at C=64, L=50 ms.
Overhead: at zero latency, the client's CPU time per request, with a bare aiohttp loop (the
transport the client is built on) measured in the same run as the baseline. A bare httpx loop
is measured too, for reference: it is why the client no longer uses httpx.

    .venv/bin/python bench/inference.py [--concurrency 64] [--latency-ms 50] [--rounds 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from throne import event_loop
from throne.adapters.inference import AiohttpChatCompletions, Deadlines, Limits, RetryPolicy
from throne.ports.chat_completions import ChatRequest, Completion
from throne.ports.model_endpoints import Endpoint

ENTRY_POINT = "from throne.cli.main import main; raise SystemExit(main())"
MODEL = "bench"
SERVE_ARGS = ["miner", "serve", "--port", "0", "--skill", "1", "--name", MODEL]


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    cpu_seconds: float
    server_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request_us(self) -> float:
        return self.cpu_seconds / self.requests * 1e6

    @property
    def server_cpu_per_request_us(self) -> float:
        return self.server_cpu_seconds / self.requests * 1e6


SERVER_PIDS: list[int] = []


def server_cpu_seconds() -> float:
    """CPU time used so far by the running miner server (Linux /proc)."""
    stat = Path(f"/proc/{SERVER_PIDS[-1]}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def miner(latency_ms: float) -> Iterator[str]:
    """A miner server in its own process, so it does not share the client's interpreter."""
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY_POINT, *SERVE_ARGS, "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    SERVER_PIDS.append(process.pid)
    try:
        assert process.stdout is not None
        match = re.search(r"at (http://\S+/v1)", process.stdout.readline())
        if match is None:
            raise RuntimeError("miner server did not start")
        base_url = match.group(1)
        for _ in range(500):
            try:
                httpx.get(base_url.removesuffix("/v1") + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.02)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def drive(call: Callable[[], Awaitable[None]], concurrency: int, requests: int) -> Run:
    """``requests`` calls, ``concurrency`` at a time, after one warm-up round."""

    async def worker(count: int) -> None:
        for _ in range(count):
            await call()

    await asyncio.gather(*(worker(1) for _ in range(concurrency)))
    share, extra = divmod(requests, concurrency)
    counts = [share + (i < extra) for i in range(concurrency)]
    wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu_seconds()
    await asyncio.gather(*(worker(n) for n in counts))
    return Run(
        requests,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        server_cpu_seconds() - server,
    )


async def throne_run(base_url: str, concurrency: int, requests: int) -> Run:
    limits = Limits(per_endpoint=concurrency, overall=concurrency)
    endpoint = Endpoint(base_url, MODEL)
    request = ChatRequest.single(MODEL, "ping", temperature=0.0)
    async with AiohttpChatCompletions(
        limits=limits, retry=RetryPolicy(attempts=1), deadlines=Deadlines(read=30, total=60)
    ) as client:

        async def call() -> None:
            if not isinstance(await client.complete(endpoint, request), Completion):
                raise RuntimeError("a benchmark request failed")

        return await drive(call, concurrency, requests)


async def bare_aiohttp_run(base_url: str, concurrency: int, requests: int) -> Run:
    body = ChatRequest.single(MODEL, "ping", temperature=0.0).body()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call() -> None:
            async with session.post(f"{base_url}/chat/completions", json=body) as response:
                (await response.json())["choices"][0]["message"]["content"]

        return await drive(call, concurrency, requests)


async def bare_httpx_run(base_url: str, concurrency: int, requests: int) -> Run:
    body = ChatRequest.single(MODEL, "ping", temperature=0.0).body()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def call() -> None:
            response = await client.post(f"{base_url}/chat/completions", json=body)
            response.json()["choices"][0]["message"]["content"]

        return await drive(call, concurrency, requests)


Driver = Callable[[str, int, int], Coroutine[Any, Any, Run]]


@dataclass(frozen=True)
class Measured:
    median: Run
    runs: list[Run]

    @property
    def spread(self) -> str:
        rates = sorted(run.rate for run in self.runs)
        return f"{rates[0]:.0f}-{rates[-1]:.0f}"


def median_runs(
    base_url: str, repeats: int, plan: dict[str, tuple[Driver, int, int]]
) -> dict[str, Measured]:
    """Each named run ``repeats`` times, interleaved so that drift in the machine's load falls
    on all of them alike; per name, the run of median rate and the lowest and highest rates."""
    runs: dict[str, list[Run]] = {name: [] for name in plan}
    for _ in range(repeats):
        for name, (driver, concurrency, requests) in plan.items():
            runs[name].append(event_loop.run(driver(base_url, concurrency, requests)))
    return {
        name: Measured(sorted(r, key=lambda run: run.rate)[len(r) // 2], r)
        for name, r in runs.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=40, help="requests per slot at latency L")
    parser.add_argument("--overhead-requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario; medians shown")
    parser.add_argument(
        "--httpx-share", type=int, default=8, help="bare httpx runs 1/N as many requests"
    )
    args = parser.parse_args()
    c, latency, n = args.concurrency, args.latency_ms / 1000, args.overhead_requests
    # httpx needs several milliseconds of CPU per request at C=64: fewer requests suffice there.
    httpx_share = max(1, args.httpx_share)
    repeats = max(1, args.repeats)
    with miner(args.latency_ms) as base_url:
        loaded = median_runs(
            base_url,
            repeats,
            {
                "ours": (throne_run, c, c * args.rounds),
                "aiohttp": (bare_aiohttp_run, c, c * args.rounds),
                "httpx": (bare_httpx_run, c, c * args.rounds // httpx_share),
            },
        )
    with miner(0) as base_url:
        idle = median_runs(
            base_url,
            repeats,
            {
                "ours 1": (throne_run, 1, n),
                "aiohttp 1": (bare_aiohttp_run, 1, n),
                "httpx 1": (bare_httpx_run, 1, n),
                "ours C": (throne_run, c, n),
                "aiohttp C": (bare_aiohttp_run, c, n),
            },
        )

    bound = c / latency
    at_load = f"C={c}, L={args.latency_ms:g} ms"
    ours, bare = loaded["ours"], loaded["aiohttp"]
    ours_1, bare_1 = idle["ours 1"].median, idle["aiohttp 1"].median
    ours_c, bare_c = idle["ours C"].median, idle["aiohttp C"].median
    httpx_1 = idle["httpx 1"].median
    rows = [
        (f"throne client, {at_load}", ours, f"{bound:.0f} req/s (C/L)", ours.median.rate / bound),
        (
            f"bare aiohttp, {at_load}",
            bare,
            f"{bound:.0f} req/s (C/L)",
            bare.median.rate / bound,
        ),
        (
            f"bare httpx, {at_load} (reference)",
            loaded["httpx"],
            f"{bound:.0f} req/s (C/L)",
            loaded["httpx"].median.rate / bound,
        ),
        (
            "throne client, C=1, L=0: wall per request",
            idle["ours 1"],
            f"{bare_1.seconds / n * 1e6:.0f} us (bare aiohttp)",
            ours_1.seconds / bare_1.seconds,
        ),
        (
            "throne client, C=1, L=0: client CPU per request",
            idle["ours 1"],
            f"{bare_1.cpu_per_request_us:.0f} us (bare aiohttp)",
            ours_1.cpu_per_request_us / bare_1.cpu_per_request_us,
        ),
        (
            f"throne client, C={c}, L=0: client CPU per request",
            idle["ours C"],
            f"{bare_c.cpu_per_request_us:.0f} us (bare aiohttp)",
            ours_c.cpu_per_request_us / bare_c.cpu_per_request_us,
        ),
        (
            "bare httpx, C=1, L=0: client CPU per request",
            idle["httpx 1"],
            f"{bare_1.cpu_per_request_us:.0f} us (bare aiohttp)",
            httpx_1.cpu_per_request_us / bare_1.cpu_per_request_us,
        ),
    ]
    print(
        f"{'scenario':<52} {'requests':>8} {'seconds':>7} {'req/s':>6} {'req/s range':>11} "
        f"{'client CPU us/req':>17} {'server CPU us/req':>17}  {'baseline':<28} {'ratio':>6}"
    )
    for name, measured, baseline, ratio in rows:
        run = measured.median
        print(
            f"{name:<52} {run.requests:>8} {run.seconds:>7.2f} {run.rate:>6.0f} "
            f"{measured.spread:>11} {run.cpu_per_request_us:>17.0f} "
            f"{run.server_cpu_per_request_us:>17.0f}  {baseline:<28} {ratio:>6.2f}"
        )
    share = ours.median.rate / bound
    target = share >= 0.9
    print(
        f"\nthroughput at {at_load}: {share:.0%} of C/L, median of {repeats} "
        f"({'meets' if target else 'misses'} the 90 % target; bare aiohttp "
        f"{bare.median.rate / bound:.0%})"
    )
    print(
        f"client overhead at L=0: {ours_1.cpu_per_request_us:.0f} us CPU per request "
        f"(bare aiohttp {bare_1.cpu_per_request_us:.0f} us, "
        f"{ours_1.cpu_per_request_us - bare_1.cpu_per_request_us:+.0f} us for limits, retries, "
        f"breaker and classification)"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} at the end of the run")
    return 0 if target else 1


if __name__ == "__main__":
    raise SystemExit(main())
