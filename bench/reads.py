"""How long the read views take on a SQLite log with many miners and decided battles.

Baseline: `ThroneApplication.standings()` on the same log in the same run (one contest load,
the scorecards of the two sides). Each view's time is also given as a ratio to it. The views
fold the contest's events through an index kept per application: a long-lived reader (the
status API) decodes each event once, so its reads stay flat as the log grows; the first read of
a fresh application (each `throne rank` or `throne history` command) decodes the whole stream.

    .venv/bin/python -m bench.reads --miners 300 --battles 150
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.contest import Driver, fixed, small_config
from throne import views
from throne.application import ThroneApplication
from throne.cli.reads import open_log_reader


def build(path: Path, miners: int, battles: int) -> int:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    app = ThroneApplication(small_config(refresh_blocks=10**9), env=env)
    d = Driver(app=app)
    for i in range(miners):
        d.join(f"hk{i:05d}", block=1 + i, uid=1 + i)
    d.sync()
    d.tick(miners + 1)
    d.tick(miners + 2)
    block = miners + 3
    d.score({"hk00000": fixed(0.5)})
    for _ in range(battles):
        challenger = d.challenger()
        if challenger is None:
            d.tick(block)
            block += 1
            challenger = d.challenger()
            if challenger is None:
                break
        d.score({challenger: fixed(0.1)})
        d.tick(block)
        block += 1
    version = app.contest_version()
    app.close()
    return version


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm caches and imports
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _fresh(path: Path, view: Callable[[ThroneApplication], Any]) -> Any:
    """``view`` on a newly opened application: what one CLI command pays."""
    app = open_log_reader(str(path))
    try:
        return view(app)
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--miners", type=int, default=300)
    parser.add_argument("--battles", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "throne.db"
        t0 = time.perf_counter()
        events = build(path, args.miners, args.battles)
        built = time.perf_counter() - t0
        app = open_log_reader(str(path))
        decided = views.history(app)["battles_decided"]
        print(
            f"log: {args.miners} miners, {decided} battles decided, contest version {events} "
            f"(built in {built:.1f} s)"
        )
        base = timed(app.standings, args.repeat)
        rows = [
            ("standings() [baseline]", base),
            ("rank", timed(lambda: views.rank(app), args.repeat)),
            ("history", timed(lambda: views.history(app), args.repeat)),
            ("miner by uid", timed(lambda: views.miner(app, "150"), args.repeat)),
            ("weights", timed(lambda: views.weights(app), args.repeat)),
            ("rank, first read", timed(lambda: _fresh(path, views.rank), args.repeat)),
            ("history, first read", timed(lambda: _fresh(path, views.history), args.repeat)),
        ]
        print(f"{'read':<24} {'best ms':>9} {'x baseline':>11}")
        for name, t in rows:
            print(f"{name:<24} {t * 1000:>9.2f} {t / base:>11.2f}")
        app.close()


if __name__ == "__main__":
    main()
