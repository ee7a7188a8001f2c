"""What an integrity check at start costs on a large SQLite log, and which one the daemon runs.

    .venv/bin/python bench/integrity.py [--events N] [--response-bytes B] [--repeats R]

Builds a log of ``N`` events (a played contest, then SampleScored events over many scorecards:
bench/storage.py's synthetic log) with one stored response of about ``B`` compressed bytes per
sample, as a validator's log grows. Then times, on a warm page cache, each check against
reading the whole file once (the floor any full check pays):

- ``PRAGMA integrity_check``: every page, every index entry against its row;
- ``PRAGMA quick_check``: every page, without the index cross-check;
- the start-up check (``throne.adapters.storage.integrity``): ``quick_check`` of the log's
  own tables, the events and snapshots with their indexes, leaving out the response store,
  which is most of the file and whose bodies are re-checked against their digests when read.

Prints one table: seconds (median of ``--repeats``), MB/s of the file, and the ratio to the
plain read.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def build_log(path: Path, events: int, response_bytes: int) -> None:
    from storage import synthetic_log  # bench/storage.py

    from throne.adapters.storage.database import parse_database_url
    from throne.adapters.storage.identity import claim_sqlite_log
    from throne.adapters.storage.responses import SqlResponseStore
    from throne.application import ThroneApplication
    from throne.domain.contest.config import ContestConfig

    db = parse_database_url(str(path))
    claim_sqlite_log(db)
    ThroneApplication(ContestConfig(), env=db.eventsourcing_env()).close()
    engine = db.create_engine()
    SqlResponseStore(engine)
    engine.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    rows = []
    responses = []
    for i, n in enumerate(synthetic_log(path.parent, events)):
        rows.append((n.originator_id.hex, n.originator_version, n.topic, n.state))
        if response_bytes:
            # Incompressible bytes of the size a compressed response takes.
            body = os.urandom(response_bytes)
            responses.append((f"{i:064x}", len(body), zlib.compress(body, 1)))
        if len(rows) >= 10_000:
            flush(conn, rows, responses)
    flush(conn, rows, responses)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def flush(conn: sqlite3.Connection, rows: list[tuple], responses: list[tuple]) -> None:
    conn.executemany(
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?)",
        rows,
    )
    conn.executemany("INSERT INTO throne_responses VALUES (?, ?, ?)", responses)
    rows.clear()
    responses.clear()


def timed(fn: Callable[[], object], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def pragma(path: Path, sql: str) -> Callable[[], object]:
    def run() -> object:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            result = conn.execute(sql).fetchall()
        assert result == [("ok",)], result
        return result

    return run


def read_file(path: Path) -> Callable[[], object]:
    def run() -> object:
        with path.open("rb") as f:
            while f.read(1 << 20):
                pass
        return None

    return run


def startup_check(path: Path) -> Callable[[], object]:
    from throne.adapters.storage.database import parse_database_url
    from throne.adapters.storage.integrity import check_integrity

    return lambda: check_integrity(parse_database_url(str(path)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--response-bytes", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="throne-bench-") as tmp_dir:
        path = Path(tmp_dir) / "large.db"
        started = time.perf_counter()
        build_log(path, args.events, args.response_bytes)
        size = path.stat().st_size / 1e6
        print(
            f"built {path.name}: {args.events:,} events, {size:,.0f} MB, "
            f"in {time.perf_counter() - started:.0f}s"
        )
        floor = timed(read_file(path), args.repeats)
        rows = [
            ("read the file once (baseline)", floor),
            ("PRAGMA integrity_check", timed(pragma(path, "PRAGMA integrity_check"), args.repeats)),
            ("PRAGMA quick_check", timed(pragma(path, "PRAGMA quick_check"), args.repeats)),
            ("start-up check (log tables only)", timed(startup_check(path), args.repeats)),
        ]
    print()
    print(f"{'check':<36} {'seconds':>9} {'MB/s':>9} {'× read':>8}")
    for name, seconds in rows:
        print(f"{name:<36} {seconds:>9.2f} {size / seconds:>9,.0f} {seconds / floor:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
