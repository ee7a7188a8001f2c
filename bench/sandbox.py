"""Sandbox throughput against the plain spawn baseline, measured in the same run.

Baseline: ``subprocess.run([sys.executable, "-c", "pass"])`` in a loop (no limits, no isolation).
Sandbox: `ForkServerSandbox.run` of a small program that reads stdin and prints, sequentially
and from several threads. Target: ratio ≥ 3 (a run in the sandbox, isolation, minimal root,
private /tmp and run-wide caps included, at least three times as fast as a bare spawn).

Usage: ``python bench/sandbox.py [--seconds S] [--threads T]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from throne.envs.sandbox import ForkServerSandbox

PROGRAM = "import sys\nxs = list(map(int, sys.stdin.read().split()))\nprint(sum(xs))"


def rate(step: Callable[[], None], seconds: float, threads: int = 1) -> float:
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def loop(i: int) -> None:
        while time.perf_counter() < stop:
            step()
            done[i] += 1

    began = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    box = ForkServerSandbox()
    check = box.run(PROGRAM, "1 2 3")
    assert check.clean and check.stdout == "6\n", check

    def spawn() -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    def sandboxed() -> None:
        result = box.run(PROGRAM, "1 2 3 4 5")
        assert result.clean

    rows = [
        ("spawn baseline (1 thread)", rate(spawn, args.seconds)),
        (f"spawn baseline ({args.threads} threads)", rate(spawn, args.seconds, args.threads)),
        ("sandbox (1 thread)", rate(sandboxed, args.seconds)),
        (f"sandbox ({args.threads} threads)", rate(sandboxed, args.seconds, args.threads)),
    ]
    base1, base_n = rows[0][1], rows[1][1]
    print(f"isolation: {box.isolation}")
    print(f"{'what':<32}{'programs/s':>12}{'vs baseline':>14}")
    for name, value in rows:
        base = base_n if "threads)" in name else base1
        print(f"{name:<32}{value:>12.1f}{value / base:>13.2f}x")
    box.close()


if __name__ == "__main__":
    main()
