"""Task generation and evaluation throughput per environment.

For each env: tasks/s generated, and evaluations/s of reference answers (ABD and DED run their
programs in the sandbox: one run per ABD evaluation, one per DED test case). The baseline is
one plain ``python -c pass`` spawn, measured in the same run, so the last column reads as
"evaluations per spawn-time".

Usage: ``python bench/envs.py [--tasks N] [--evals M]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from throne.envs.registry import environments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--evals", type=int, default=100)
    args = parser.parse_args()
    began = time.perf_counter()
    for _ in range(20):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    spawns = 20 / (time.perf_counter() - began)
    print(f"baseline: {spawns:.1f} python spawns/s")
    print(f"{'env':<6}{'tasks/s':>10}{'evals/s':>10}{'evals per spawn':>17}{'score':>8}")
    for name, env in environments().items():
        began = time.perf_counter()
        tasks = [env.task(i) for i in range(args.tasks)]
        gen = args.tasks / (time.perf_counter() - began)
        sample = tasks[: args.evals]
        env.evaluate(sample[0], env.reference_answer(sample[0]))  # start the sandbox
        began = time.perf_counter()
        total = sum(env.evaluate(t, env.reference_answer(t)).score for t in sample)
        evals = len(sample) / (time.perf_counter() - began)
        mean = total / len(sample)
        print(f"{name:<6}{gen:>10.0f}{evals:>10.1f}{evals / spawns:>16.2f}x{mean:>8.2f}")


if __name__ == "__main__":
    main()
