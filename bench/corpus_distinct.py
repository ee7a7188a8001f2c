"""Check that an environment's declared id range is honest: every id gives a distinct prompt.

The task reference line is cut off before comparing, so ids cannot make prompts distinct on
their own. Usage: ``python bench/corpus_distinct.py ABD [--count N] [--workers W]``.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from concurrent.futures import ProcessPoolExecutor

from throne.envs.registry import get_environment


def _digests(args: tuple[str, int, int]) -> list[bytes]:
    name, start, stop = args
    env = get_environment(name)
    out = []
    for task_id in range(start, stop):
        body = env.task(task_id).prompt.rsplit("\n", 1)[0]
        out.append(hashlib.blake2b(body.encode(), digest_size=16).digest())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("env")
    parser.add_argument("--count", type=int, help="ids to check (default: the whole range)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = get_environment(args.env)
    start, stop = env.id_range
    stop = start + args.count if args.count else stop
    chunk = 5_000
    jobs = [(args.env, a, min(a + chunk, stop)) for a in range(start, stop, chunk)]
    began = time.perf_counter()
    seen: dict[bytes, int] = {}
    duplicates: list[tuple[int, int]] = []
    with ProcessPoolExecutor(args.workers) as pool:
        for (_, a, _), digests in zip(jobs, pool.map(_digests, jobs), strict=True):
            for offset, digest in enumerate(digests):
                first = seen.setdefault(digest, a + offset)
                if first != a + offset:
                    duplicates.append((first, a + offset))
    elapsed = time.perf_counter() - began
    print(f"{args.env}: ids [{start}, {stop}) checked in {elapsed:.0f} s")
    print(f"distinct prompts: {len(seen)}; duplicated ids: {len(duplicates)}")
    for first, again in duplicates[:20]:
        print(f"  task {again} repeats task {first}")
    raise SystemExit(1 if duplicates else 0)


if __name__ == "__main__":
    main()
