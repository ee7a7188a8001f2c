"""The read side on a real store: whoever reads, and however far the stored read models have
got, a read gives the same answer as read models built from zero, and a reader that may not
write never writes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.contest import Driver, fixed, small_config
from tests.support.played import play, play_first_pool, retire_first_pool
from throne import views
from throne.adapters.storage.database import Database, parse_database_url
from throne.application import ThroneApplication
from throne.domain.contest.scorecard import Scorecard
from throne.projections import all_projections
from throne.projections.base import tracking_table
from throne.projections.read_side import ReadSide
from throne.projections.runner import ProjectionRunner
from throne.projections.standings import StandingsProjection
from throne.views.miner import miner_directory


def every_view(reads: ReadSide) -> dict[str, Any]:
    return {
        "rank": views.rank(reads),
        "history": views.history(reads),
        "weights": views.weights(reads),
        "miners": miner_directory(reads).by_hotkey,
    }


def afresh(app: ThroneApplication) -> dict[str, Any]:
    """The views of read models built from zero, in memory."""
    reads = ReadSide(app)
    try:
        return every_view(reads)
    finally:
        reads.close()


@dataclass
class Log:
    db: Database
    app: ThroneApplication  # the writer
    engine: sa.Engine

    def daemon_reads(self) -> ReadSide:
        """The daemon's read side: it keeps the read models in the log's database."""
        return ReadSide(self.app, store=self.engine, keeps_store=True)

    def reader(self, netuid: int = 120) -> tuple[ReadSide, list[int]]:
        """A read-only reader of its own (a read command, the status API's process), and the
        notification ids of the events it decodes."""
        readonly = self.db.readonly()
        app = ThroneApplication(
            small_config(netuid=netuid), env=readonly.eventsourcing_env(create_tables=False)
        )
        decoded: list[int] = []
        decode = app.mapper.to_domain_event

        def counting(stored: Any) -> Any:
            decoded.append(getattr(stored, "id", 0))
            return decode(stored)

        app.mapper.to_domain_event = counting  # type: ignore[method-assign]
        return ReadSide(app, store=readonly.create_engine(), owns=True), decoded


@pytest.fixture
def log(db_url: str) -> Iterator[Log]:
    db = parse_database_url(db_url)
    app = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    engine = db.create_engine()
    yield Log(db, app, engine)
    engine.dispose()
    app.close()


def digest(db: Database) -> str | None:
    if db.path is None:
        return None
    return hashlib.sha256(Path(db.path).read_bytes()).hexdigest()


def stored_positions(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(tracking_table))]


def test_a_log_no_daemon_projected_reads_as_read_models_built_from_zero(log: Log) -> None:
    play(log.app)
    before = digest(log.db)
    reader, _ = log.reader()
    try:
        assert every_view(reader) == afresh(log.app)
    finally:
        reader.close()
    assert digest(log.db) == before
    with log.engine.connect() as conn:
        assert not any("standings" in t for t in sa.inspect(conn).get_table_names())


def test_stored_read_models_that_cover_the_log_are_read_as_they_are(log: Log) -> None:
    play(log.app)
    daemon = log.daemon_reads()
    expected = every_view(daemon)
    daemon.close()
    reader, decoded = log.reader()
    try:
        assert every_view(reader) == expected == afresh(log.app)
    finally:
        reader.close()
    assert decoded == []


def test_stored_read_models_that_are_behind_are_caught_up_in_memory_only(log: Log) -> None:
    d = play_first_pool(log.app)
    daemon = log.daemon_reads()
    every_view(daemon)  # the daemon projects, then stops
    daemon.close()
    projected = log.app.recorder.max_notification_id() or 0
    retire_first_pool(d)
    d.join("late", block=130)
    d.sync()
    before = stored_positions(log.engine)
    reader, decoded = log.reader()
    try:
        assert every_view(reader) == afresh(log.app)
        assert decoded and min(decoded) > projected  # the stored rows were taken as they are
        decoded.clear()
        d.score({"strong": fixed(1.0)})
        assert d.tick(131) == ["battle_started"]
        # A long-lived reader applies what is new, and only that.
        assert every_view(reader) == afresh(log.app)
        assert decoded and min(decoded) > projected
    finally:
        reader.close()
    assert stored_positions(log.engine) == before  # the reader moved nothing there


def test_the_daemons_read_side_keeps_the_stored_read_models_current(log: Log) -> None:
    d = play_first_pool(log.app)
    daemon = log.daemon_reads()
    try:
        assert every_view(daemon) == afresh(log.app)
        retire_first_pool(d)
        assert every_view(daemon) == afresh(log.app)
    finally:
        daemon.close()
    reader, decoded = log.reader()
    try:
        assert every_view(reader) == afresh(log.app)
    finally:
        reader.close()
    assert decoded == []


def test_each_contest_of_a_shared_log_reads_as_its_own(log: Log) -> None:
    play(log.app)
    other = ThroneApplication(small_config(netuid=7), env=log.db.eventsourcing_env())
    try:
        d = Driver(small_config(netuid=7), app=other)
        d.join("seven", block=1)
        d.sync()
        d.tick(2)
        d.tick(3)
        ours, theirs = afresh(log.app), afresh(other)
        daemon = log.daemon_reads()
        every_view(daemon)  # the stored read models follow netuid 120 only
        daemon.close()
        for netuid, expected in ((120, ours), (7, theirs)):
            reader, _ = log.reader(netuid)
            try:
                assert every_view(reader) == expected
            finally:
                reader.close()
    finally:
        other.close()
    assert theirs["rank"]["champion"]["hotkey"] == "seven"
    assert ours["rank"]["champion"]["hotkey"] == "strong"


def test_read_models_an_older_throne_left_under_other_names_are_ignored(log: Log) -> None:
    play(log.app)
    with log.engine.begin() as conn:  # what the read models of an earlier version looked like
        conn.exec_driver_sql(
            "CREATE TABLE standings_miners (hotkey VARCHAR(100) PRIMARY KEY, status TEXT)"
        )
        conn.exec_driver_sql("INSERT INTO standings_miners VALUES ('ghost', 'champion')")
    reader, _ = log.reader()
    try:
        assert every_view(reader) == afresh(log.app)
    finally:
        reader.close()


class OlderStandings(StandingsProjection):
    """The standings as a throne before the commitments' extras projected them: the same
    names and tables, without the ``extra`` column."""

    schema = 1

    def table(self, name: str, *columns: Any) -> sa.Table:
        return super().table(name, *(c for c in columns if c.name != "extra"))

    def insert(
        self, conn: sa.Connection, table: sa.Table, row: Mapping[str, Any], *, ignore: bool = False
    ) -> None:
        super().insert(conn, table, {k: v for k, v in row.items() if k in table.c}, ignore=ignore)

    def update(
        self, conn: sa.Connection, table: sa.Table, where: Mapping[str, Any], **values: Any
    ) -> None:
        super().update(conn, table, where, **{k: v for k, v in values.items() if k in table.c})


def test_standings_an_older_throne_projected_to_the_head_are_rebuilt_with_the_extras(
    log: Log,
) -> None:
    d = Driver(small_config(burn=0.25), app=log.app)
    d.chain.register("a")
    chute = {"model": "org/affine-a", "revision": "r1", "chute_id": "chute-a"}
    d.chain.commit("a", json.dumps(chute), block=1)
    d.join("b", block=2)
    d.sync()
    older = [OlderStandings(120), *all_projections(120)[1:]]
    runner = ProjectionRunner(
        log.app.recorder, log.app.mapper, log.engine, older, application=log.app.name
    )
    assert runner.catch_up() > 0
    with log.engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT hotkey FROM standings_120_miners")).all()
    assert sorted(h for (h,) in kept) == ["a", "b"]  # the old shape, at the log's head
    reader, _ = log.reader()
    daemon = log.daemon_reads()
    try:
        for reads in (reader, daemon):
            with reads.read() as r:
                standings = r.standings()
            assert standings.extra("a") == {"chute_id": "chute-a"}
            assert standings.extra("b") == {}
            assert every_view(reads) == afresh(log.app)
    finally:
        reader.close()
        daemon.close()
    with log.engine.connect() as conn:  # the daemon built the new tables beside the old ones
        names = set(sa.inspect(conn).get_table_names())
    newest = f"standings_v{StandingsProjection.schema}_120_miners"
    assert {"standings_120_miners", newest} <= names


def test_a_log_projected_from_zero_is_read_without_the_samples_of_its_retired_pools(
    log: Log,
) -> None:
    play(log.app)  # every sample is of pool 1, which pool 2 retired
    samples = {
        n.id
        for n in log.app.recorder.select_notifications(
            0, 10_000, topics=[Scorecard.SampleScored.TOPIC], inclusive_of_start=False
        )
    }
    assert samples
    reader, decoded = log.reader()
    try:
        assert every_view(reader) == afresh(log.app)
    finally:
        reader.close()
    assert decoded and not samples & set(decoded)
