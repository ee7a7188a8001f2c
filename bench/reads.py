"""How long the read views take on a SQLite log with many miners and decided battles.

Baseline: loading the contest aggregate once (what a read cost before there was a read side:
the old `ThroneApplication.standings()` was that load and the scorecards of the two sides), on
the same log in the same run. Each view's time is also given as a ratio to it.

Every read goes through the read side (`throne.projections.read_side`). The rows say where it
finds the read models:

- ``warm``: a long-lived reader (the status API's process), after its first read;
- ``first read``: a new reader (one `throne rank` or `throne history` command), with the read
  models the daemon keeps in the database covering the log (``stored``), behind it by the last
  ``--behind`` events (``behind``: copied into memory and caught up there), or absent (``none``:
  a log no daemon projected, projected from zero in memory).

    .venv/bin/python -m bench.reads --miners 300 --battles 150
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.contest import Driver, fixed, small_config
from throne import views
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.cli.reads import open_log_reader, open_reads
from throne.projections.read_side import ReadSide


def build(path: Path, miners: int, battles: int, refresh_blocks: int = 10**9) -> int:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    app = ThroneApplication(small_config(refresh_blocks=refresh_blocks), env=env)
    d = Driver(app=app)
    for i in range(miners):
        d.join(f"hk{i:05d}", block=1 + i, uid=1 + i)
    d.sync()
    d.tick(miners + 1)
    d.tick(miners + 2)
    block = miners + 3
    for _ in range(battles):
        challenger = d.challenger()
        for _ in range(3):  # a new pool: the champion scores it before the next battle
            if challenger is not None:
                break
            d.score({"hk00000": fixed(0.5)})
            d.tick(block)
            block += 1
            challenger = d.challenger()
        if challenger is None:
            break
        d.score({challenger: fixed(0.1)})
        d.tick(block)
        block += 1
    version = app.contest_version()
    d.reads.close()
    app.close()
    return version


def project(path: Path, *, leave: int = 0) -> None:
    """What a daemon does: keep the read models in the log's database, here up to all but the
    last ``leave`` events."""
    app = open_log_reader(str(path))
    engine = parse_database_url(str(path)).create_engine()
    recorder = app.recorder
    if leave:
        head = (recorder.max_notification_id() or 0) - leave
        select = recorder.select_notifications

        def upto(start: int, limit: int, stop: int | None = None, **kw: Any) -> Any:
            return select(start, limit, head if stop is None else min(stop, head), **kw)

        recorder.select_notifications = upto  # type: ignore[method-assign]
    reads = ReadSide(app, store=engine, keeps_store=True)
    reads.catch_up()
    reads.close()
    engine.dispose()
    app.close()


def timed(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm caches and imports
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _fresh(path: Path, view: Callable[[ReadSide], Any]) -> Any:
    """``view`` on a newly opened read side: what one CLI command pays."""
    reads = open_reads(str(path))
    try:
        return view(reads)
    finally:
        reads.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--miners", type=int, default=300)
    parser.add_argument("--battles", type=int, default=150)
    parser.add_argument("--behind", type=int, default=50)
    parser.add_argument(
        "--refresh-blocks",
        type=int,
        default=10**9,
        help="blocks between task pools (default: one pool for the whole log)",
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.db"
        t0 = time.perf_counter()
        events = build(bare, args.miners, args.battles, args.refresh_blocks)
        built = time.perf_counter() - t0
        stored, behind = Path(tmp) / "stored.db", Path(tmp) / "behind.db"
        shutil.copy(bare, stored)
        shutil.copy(bare, behind)
        project(stored)
        project(behind, leave=args.behind)
        app = open_log_reader(str(bare))
        reads = open_reads(str(stored))
        decided = views.history(reads)["battles_decided"]
        print(
            f"log: {args.miners} miners, {decided} battles decided, contest version {events}, "
            f"{app.recorder.max_notification_id()} events (built in {built:.1f} s)"
        )
        base = timed(lambda: app.repository.get(app.contest_id), args.repeat)
        warm = open_reads(str(bare))
        rows = [
            ("contest load [baseline]", base),
            ("rank, warm", timed(lambda: views.rank(warm), args.repeat)),
            ("history, warm", timed(lambda: views.history(warm), args.repeat)),
            ("miner by uid, warm", timed(lambda: views.miner(warm, "150"), args.repeat)),
            ("weights, warm", timed(lambda: views.weights(warm), args.repeat)),
        ]
        for name, path in (("stored", stored), (f"behind {args.behind}", behind), ("none", bare)):
            rows += [
                (
                    f"rank, first read, {name}",
                    timed(lambda p=path: _fresh(p, views.rank), args.repeat),
                ),
                (
                    f"history, first read, {name}",
                    timed(lambda p=path: _fresh(p, views.history), args.repeat),
                ),
            ]
        print(f"{'read':<32} {'best ms':>9} {'x baseline':>11}")
        for name, t in rows:
            print(f"{name:<32} {t * 1000:>9.2f} {t / base:>11.2f}")
        warm.close()
        reads.close()
        app.close()


if __name__ == "__main__":
    main()
