"""Storage throughput: SampleScored appends on SQLite and PostgreSQL, and audit verification.

    .venv/bin/python bench/storage.py [--events N] [--single N] [--verify-events N]
                                      [--load-events N] [--repeats R]

Prints one table. Appends go through the real ``ThroneApplication`` (Scorecard aggregates, the
application's mapper, snapshots on) one event per save and batched, beside raw ``sqlite3`` and
psycopg ``executemany`` of the very same payloads into a table of the same shape: the ratio says
what the event store costs over the driver. A Contest stream of a few thousand events (200
miners, then uid moves) is loaded from its latest snapshot, beside a full replay of it: the
ratio is what snapshots save. Verification reads a synthetic export of at least a
million events (a played contest, then SampleScored events over many scorecards) and checks its
hash chain, signatures and replay: in one process, and as ``throne audit verify`` does by
default, in one process per core, each verifying a span between checkpoints.

Batched appends and verification run ``--repeats`` times (3), each time followed by its
baseline, and the table shows the medians and the range: on a shared machine one run can land
in a slow minute. Targets (on the medians): batched append >= 30,000 events/s on SQLite;
verify (as run by default) >= 100,000 events/s. The script starts its own throwaway
PostgreSQL cluster with ``scripts/pg-cluster`` unless ``THRONE_BENCH_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

URL_VAR = "THRONE_BENCH_POSTGRES_URL"
SQLITE_BATCHED_TARGET = 30_000
VERIFY_TARGET = 100_000
BATCH = 500
PER_CARD = 100  # samples per scorecard: one miner's pool in a few envs


def ensure_postgres() -> str:
    url = os.environ.get(URL_VAR)
    if url:
        return url
    script = ROOT / "scripts" / "pg-cluster"
    cmd = [str(script), "--var", URL_VAR, "--", sys.executable, *sys.argv]
    raise SystemExit(subprocess.call(cmd))


@dataclass
class Row:
    """One scenario: its rates over the repeats, and its baseline's, measured interleaved."""

    scenario: str
    backend: str
    events: int
    rates: list[float]
    baseline: str = ""
    baseline_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def baseline_rate(self) -> float | None:
        return statistics.median(self.baseline_rates) if self.baseline_rates else None


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - started


# ---- appends ------------------------------------------------------------------------------------


def sample(hotkey: str, i: int) -> Any:
    from throne.domain.contest.samples import Sample

    env = ("SAT", "ABD", "DED")[i % 3]
    return Sample(
        pool=1,
        env=env,
        task_id=i,
        hotkey=hotkey,
        revision="r1",
        score=(i * 37 % 100) / 100,
        latency_ms=800 + i % 400,
        prompt_tokens=300,
        completion_tokens=900,
        response_digest=f"{hash(hotkey) & (2**128 - 1):032x}{i:032x}",
    )


def scorecards(total: int, start: int = 0) -> Iterator[list[Any]]:
    """Batches of scorecards holding ``PER_CARD`` new samples each (as the app records them)."""
    from throne.domain.contest.scorecard import Scorecard

    card_no = start
    made = 0
    while made < total:
        cards = []
        while made < total and len(cards) * PER_CARD < BATCH:
            hotkey = f"5Miner{card_no:06d}"
            card = Scorecard(netuid=120, pool=1, hotkey=hotkey, revision="r1")
            for i in range(min(PER_CARD, total - made)):
                card.record(sample(hotkey, i))
                made += 1
            cards.append(card)
            card_no += 1
        yield cards


def app_on(env: dict[str, str]) -> Any:
    from throne.application import ThroneApplication
    from throne.domain.contest.config import ContestConfig

    return ThroneApplication(ContestConfig(), env=env)


def append_one_per_save(app: Any, events: int) -> int:
    from throne.domain.contest.scorecard import Scorecard

    hotkey = f"5Single{uuid.uuid4().hex[:8]}"
    card = Scorecard(netuid=120, pool=1, hotkey=hotkey, revision="r1")
    app.save(card)
    for i in range(events):
        card.record(sample(hotkey, i))
        app.save(card)
    return events


def append_batched(app: Any, batches: list[list[Any]]) -> int:
    """Save scorecards already holding their new samples: times the store, not the domain."""
    count = sum(len(c.pending_events) for cards in batches for c in cards)
    for cards in batches:
        app.save(*cards)
    return count


def stored_payloads(app: Any, events: int) -> list[tuple[str, int, str, bytes]]:
    """The same rows the event store writes, as (originator, version, topic, state)."""
    rows = []
    for cards in scorecards(events, start=50_000):
        for card in cards:
            for e in card.collect_events():
                s = app.mapper.to_stored_event(e)
                rows.append((s.originator_id.hex, s.originator_version, s.topic, s.state))
    return rows


def raw_sqlite(path: Path, rows: list[tuple[str, int, str, bytes]]) -> int:
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
        "state BLOB, PRIMARY KEY (originator_id, originator_version))"
    )
    for start in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_events VALUES (?,?,?,?)", rows[start : start + BATCH])
        conn.execute("COMMIT")
    conn.close()
    return len(rows)


def raw_psycopg(url: str, schema: str, rows: list[tuple[str, int, str, bytes]]) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("DROP TABLE IF EXISTS raw_events")
        conn.execute(
            "CREATE TABLE raw_events (originator_id uuid, originator_version bigint, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        conn.commit()
        for start in range(0, len(rows), BATCH):
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
                    "VALUES (%s, %s, %s, %s)",
                    rows[start : start + BATCH],
                )
            conn.commit()
    return len(rows)


def bench_appends(pg_url: str, events: int, single: int, repeats: int, tmp: Path) -> list[Row]:
    import psycopg

    from throne.adapters.storage.database import parse_database_url

    out: list[Row] = []
    for backend in ("SQLite", "PostgreSQL"):
        if backend == "SQLite":
            db = parse_database_url(str(tmp / "bench.db"))
            schema = ""
        else:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            db = parse_database_url(f"{pg_url}?schema={schema}")
        app = app_on(db.eventsourcing_env())
        batched: list[float] = []
        raw: list[float] = []
        try:
            n, s = timed(lambda app=app: append_one_per_save(app, single))
            out.append(Row("SampleScored, 1 per save", backend, n, [n / s]))
            rows = stored_payloads(app, events)
            for repeat in range(repeats):
                # Fresh scorecards each time, then the driver on the same payloads.
                batches = list(scorecards(events, start=10_000 + repeat * 1_000))
                n, s = timed(lambda app=app, batches=batches: append_batched(app, batches))
                batched.append(n / s)
                if backend == "SQLite":
                    rn, rs = timed(lambda rows=rows: raw_sqlite(tmp / "raw.db", rows))
                else:
                    rn, rs = timed(
                        lambda rows=rows, schema=schema: raw_psycopg(pg_url, schema, rows)
                    )
                raw.append(rn / rs)
        finally:
            app.close()
        driver = "sqlite3" if backend == "SQLite" else "psycopg"
        baseline = f"{driver} executemany, {BATCH}/txn"
        out.append(Row(f"SampleScored, {BATCH} per save", backend, n, batched, baseline, raw))
    return out


# ---- aggregate loads ----------------------------------------------------------------------------


def bench_loads(tmp: Path, miners: int, churn: int, loads: int) -> list[Row]:
    """Load a long Contest stream (``miners`` joined, then ``churn`` uid moves, one event each)
    from its latest snapshot and the events after it, beside a full replay of the stream."""
    from tests.support.contest import Driver, small_config
    from throne.adapters.storage.database import parse_database_url
    from throne.application import ThroneApplication

    db = parse_database_url(str(tmp / "loads.db"))
    config = small_config(burn=0.25)
    app = ThroneApplication(config, env=db.eventsourcing_env())
    driver = Driver(config, app=app)
    for m in range(miners):
        driver.join(f"5Load{m:04d}", uid=m + 1)
    driver.sync()
    for i in range(churn):
        driver.chain.neurons["5Load0000"] = 1 + (i % 2) * miners
        driver.sync()
    contest_id, version = app.contest_id, app.contest_version()
    app.close()

    def rate(extra: dict[str, str]) -> float:
        reader = ThroneApplication(config, env={**db.eventsourcing_env(), **extra})
        try:
            times = []
            for _ in range(loads):
                started = time.perf_counter()
                reader.repository.get(contest_id)
                times.append(time.perf_counter() - started)
            return 1 / statistics.median(times)
        finally:
            reader.close()

    snapshot = [rate({}) for _ in range(3)]
    full = [rate({"IS_SNAPSHOTTING_ENABLED": "n"}) for _ in range(3)]
    name = f"Contest load, {version:,} events, {miners} miners"
    return [Row(name + " (loads/s)", "SQLite", loads, snapshot, "full replay of the stream", full)]


# ---- verification -------------------------------------------------------------------------------


class _Notification:
    __slots__ = ("id", "originator_id", "originator_version", "state", "topic")

    def __init__(self, id: int, originator_id: Any, version: int, topic: str, state: bytes):
        self.id = id
        self.originator_id = originator_id
        self.originator_version = version
        self.topic = topic
        self.state = state


def synthetic_log(tmp: Path, samples: int) -> Iterator[Any]:
    """A played contest from a real store, then ``samples`` SampleScored events over many
    scorecards, as notifications with gaps in their ids (as PostgreSQL leaves them)."""
    from tests.support.contest import small_config
    from tests.support.played import play
    from throne.adapters.storage.database import parse_database_url
    from throne.application import ThroneApplication
    from throne.domain.contest.scorecard import Scorecard

    db = parse_database_url(str(tmp / "played.db"))
    app = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    play(app)
    played = list(app.recorder.select_notifications(1, 100_000))
    mapper = app.mapper
    app.close()
    yield from played
    next_id = played[-1].id + 1
    # Sample states are made from one the mapper really wrote, varying its fields: building a
    # million aggregates first would measure the domain, not the audit.
    probe = next(scorecards(1, start=99_999))[0]
    sample_event = probe.collect_events()[-1]
    template = json.loads(mapper.to_stored_event(sample_event).state)
    card_no = 100_000
    made = 0
    while made < samples:
        hotkey = f"5Miner{card_no:06d}"
        card = Scorecard(netuid=120, pool=1, hotkey=hotkey, revision="r1")
        created = mapper.to_stored_event(card.collect_events()[0])
        yield _Notification(next_id, created.originator_id, 1, created.topic, created.state)
        next_id += 1
        for i in range(min(PER_CARD, samples - made)):
            state = dict(template)
            state.update(
                env=("SAT", "ABD", "DED")[i % 3],
                task_id=i,
                hotkey=hotkey,
                score=(i * 37 % 100) / 100,
                response_digest=f"{card_no:032x}{i:032x}",
            )
            yield _Notification(
                next_id, card.id, i + 2, sample_event.TOPIC, json.dumps(state).encode()
            )
            next_id += 1 if next_id % 97 else 3  # gaps, as PostgreSQL leaves them
            made += 1
        card_no += 1


def bench_verify(tmp: Path, samples: int, repeats: int) -> list[Row]:
    from throne.audit.replay import is_weight_submission
    from throne.audit.signing import keypair_from_text
    from throne.audit.sources import ExportFile
    from throne.audit.spans import default_jobs
    from throne.audit.verification import verify as verify_source
    from throne.audit.writer import export_notifications, open_for_writing

    signer = keypair_from_text("//Alice")
    path = tmp / "synthetic.jsonl"

    def export() -> int:
        with open_for_writing(path) as f:
            return export_notifications(
                synthetic_log(tmp, samples),
                f,
                signer,
                application="throne",
                checkpoint_after=is_weight_submission,
            )

    n_export, s_export = timed(export)

    def verify(jobs: int) -> Callable[[], int]:
        def run() -> int:
            report = verify_source(ExportFile(path), expected_signer=signer.ss58_address, jobs=jobs)
            result, export = report.replay, report.export
            assert result.verdicts_checked == 2 and result.weights_checked == 3
            assert export is not None and export.events == result.events
            return export.events

        return run

    def parse_only() -> int:
        # Baseline: reading and JSON-parsing every line (with the parser verify uses), no more.
        import orjson

        count = 0
        loads = orjson.loads
        with path.open("rb") as f:
            for line in f:
                loads(line)
                count += 1
        return count

    jobs = default_jobs()
    one_pass: list[float] = []
    spread: list[float] = []
    parsed: list[float] = []
    for _ in range(repeats):
        n_verify, s_verify = timed(verify(1))
        one_pass.append(n_verify / s_verify)
        n_verify, s_verify = timed(verify(jobs))
        spread.append(n_verify / s_verify)
        pn, ps = timed(parse_only)
        parsed.append(pn / ps)
    size = path.stat().st_size / 1e6
    return [
        Row(f"synthesize + audit export ({size:.0f} MB)", "file", n_export, [n_export / s_export]),
        Row(
            "audit verify: chain + replay, 1 process",
            "file",
            n_verify,
            one_pass,
            "orjson.loads of each line",
            parsed,
        ),
        Row(
            f"audit verify: chain + replay, {jobs} processes (default)",
            "file",
            n_verify,
            spread,
            "orjson.loads of each line",
            parsed,
        ),
    ]


def print_table(rows: list[Row]) -> None:
    header = (
        "scenario",
        "backend",
        "events",
        "events/s",
        "range",
        "baseline",
        "baseline/s",
        "ratio",
    )
    lines = [header]
    for r in rows:
        base = r.baseline_rate
        spread = f"{min(r.rates):,.0f}-{max(r.rates):,.0f}" if len(r.rates) > 1 else ""
        lines.append(
            (
                r.scenario,
                r.backend,
                f"{r.events:,}",
                f"{r.rate:,.0f}",
                spread,
                r.baseline,
                f"{base:,.0f}" if base else "",
                f"{r.rate / base:.2f}" if base else "",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for i, line in enumerate(lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="batched appends per backend")
    parser.add_argument("--single", type=int, default=2_000, help="one-per-save appends")
    parser.add_argument("--verify-events", type=int, default=1_000_000)
    parser.add_argument(
        "--load-events", type=int, default=3_000, help="events in the Contest stream loaded"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each batched/verify scenario (median)"
    )
    args = parser.parse_args()
    pg_url = ensure_postgres()
    with tempfile.TemporaryDirectory(prefix="throne-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        rows = bench_appends(pg_url, args.events, args.single, args.repeats, tmp)
        rows += bench_loads(tmp, miners=200, churn=args.load_events, loads=20)
        rows += bench_verify(tmp, args.verify_events, args.repeats)
    print_table(rows)
    batched_sqlite = next(
        r for r in rows if r.backend == "SQLite" and "per save" in r.scenario and r.baseline
    )
    verify = next(r for r in rows if r.scenario.endswith("(default)"))
    checks = [
        ("batched append on SQLite", batched_sqlite.rate, SQLITE_BATCHED_TARGET),
        ("audit verify", verify.rate, VERIFY_TARGET),
    ]
    print()
    ok = True
    for name, rate, target in checks:
        passed = rate >= target
        ok &= passed
        print(
            f"{'PASS' if passed else 'MISS'}  {name}: {rate:,.0f} events/s, median of "
            f"{args.repeats} (target {target:,})"
        )
    if verify.events < 1_000_000:
        print(f"note: verified {verify.events:,} events; the target is stated for >= 1,000,000")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
