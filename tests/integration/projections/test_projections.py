"""Read models on SQLite and PostgreSQL: exactly once, rebuildable, caught up live, and equal to
the state of the aggregates they are folded from."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from attrs import evolve
from eventsourcing.persistence import IntegrityError

from tests.support.contest import Driver, fixed, fraction, small_config
from tests.support.played import play
from throne.adapters.storage.database import Database, parse_database_url
from throne.application import ThroneApplication
from throne.domain.contest.contest import Contest
from throne.projections import all_projections
from throne.projections.base import Projection
from throne.projections.decisions import DecisionsProjection
from throne.projections.history import HistoryProjection
from throne.projections.runner import PollingWaiter, ProjectionRunner, waiter_for
from throne.projections.standings import StandingsProjection
from throne.projections.weights import WeightsProjection

NETUID = 120


@dataclass
class Store:
    db: Database
    app: ThroneApplication
    engine: sa.Engine

    def runner(self, projections: list[Projection] | None = None, batch: int = 500) -> Any:
        return ProjectionRunner(
            self.app.recorder,
            self.app.mapper,
            self.engine,
            projections if projections is not None else all_projections(NETUID),
            application=self.app.name,
            batch=batch,
        )


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    db = parse_database_url(db_url)
    app = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    engine = db.create_engine()
    yield Store(db, app, engine)
    engine.dispose()
    app.close()


def rows(engine: sa.Engine, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as conn:
        for table in projection.data_tables():
            name = table.name.removeprefix(projection.prefix)
            ordered = conn.execute(sa.select(table).order_by(*table.primary_key.columns))
            out[name] = [tuple(r) for r in ordered]
    return out


def follow(runner: Any, waiter: Any) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop, waiter), kwargs={"idle": 60.0})
    thread.start()
    return stop, thread


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "projection did not catch up in time"
        time.sleep(0.02)


def test_projections_followed_live_equal_a_rebuild_from_zero(store: Store) -> None:
    live = store.runner(batch=3)
    waiter = PollingWaiter(0.01)
    stop, thread = follow(live, waiter)
    try:
        play(store.app)
    finally:
        stop.set()
        waiter.wake()
        thread.join()
    live.catch_up()
    rebuilt = store.runner(all_projections(NETUID, prefix="rebuild_"))
    assert rebuilt.catch_up() > 0
    for old, new in zip(live.projections, rebuilt.projections, strict=True):
        assert rows(store.engine, old) == rows(store.engine, new), old.name
        assert rows(store.engine, old)  # not trivially equal


def test_the_standings_hold_the_state_of_the_contest_aggregate(store: Store) -> None:
    d = play(store.app)
    d.score({"strong": fixed(1.0)})
    d.join("late", block=100)
    d.sync()
    assert d.tick(121) == ["battle_started"]
    d.score({"late": fraction(0.5)})
    projection = StandingsProjection(NETUID)
    store.runner([projection]).catch_up()
    with store.engine.connect() as conn:
        read = projection.read(conn)
    contest: Contest = store.app.repository.get(store.app.contest_id)
    assert read.version == contest.version
    assert read.config == contest.config
    # the records as the aggregate holds them, but for the commitment's digest, which no read
    # shows
    assert [m.to_dict() for m in read.miners] == [m.to_dict() for m in contest.all_miners()]
    assert read.queue() == [evolve(m, text_digest=None) for m in contest.queue()]
    assert (read.champion, read.battle, read.pool) == (
        contest.champion,
        contest.battle,
        contest.pool,
    )
    assert read.weights() == contest.weights() == {2: 0.75, 0: 0.25}
    assert read.battle is not None and read.pool is not None
    side = store.app.side_scores(2, "late", read.battle.revision)
    assert read.challenger_scores == side.scores
    assert read.progress()["SAT"].common == 4  # its sampling_count, of a pool of ceil(4 * 1.1)
    assert read.last_block == 121


def test_the_history_tells_every_reign_battle_and_termination(store: Store) -> None:
    play(store.app)
    projection = HistoryProjection(NETUID)
    store.runner([projection]).catch_up()
    with store.engine.connect() as conn:
        history = projection.read(conn)
        about_weak = projection.said_about(conn, "weak")
    assert [(r["hotkey"], r["from_block"], r["to_block"]) for r in history.reigns] == [
        ("champ", 6, 8),
        ("strong", 8, None),
    ]
    assert history.reigns[0]["ended_by"] == {"how": "dethroned", "by": "strong"}
    assert [(b["challenger"], b["champion"], b["result"]) for b in history.battles] == [
        ("strong", "champ", "dethroned"),
        ("weak", "strong", "terminated"),
    ]
    assert [(t["hotkey"], t["reason"]) for t in history.terminations] == [
        ("champ", "dethroned_by:strong"),
        ("weak", "lost_to_champion:early_regression_in_SAT"),
    ]
    assert [a["event"] for a in about_weak] == ["Committed", "BattleStarted", "Terminated"]


def test_the_weights_read_model_holds_every_submission(store: Store) -> None:
    play(store.app)
    projection = WeightsProjection(NETUID)
    store.runner([projection]).catch_up()
    with store.engine.connect() as conn:
        history = projection.submissions(conn)
        last = projection.last_submission(conn)
    assert [h["block"] for h in history] == [6, 8, 120]
    assert history[0]["weights"] == {"1": 0.75, "0": 0.25}  # champ's reign, as recorded
    assert history[1]["u16"] == [[0, 21845], [2, 65535]]
    assert last == history[-1]


def test_the_decisions_read_model_has_one_row_per_decision(store: Store) -> None:
    play(store.app)
    projection = DecisionsProjection(NETUID)
    store.runner([projection]).catch_up()
    with store.engine.connect() as conn:
        decisions = projection.read(conn)
    assert [(d["kind"], d["hotkey"]) for d in decisions] == [
        ("pool_refreshed", None),
        ("crowned", "champ"),
        ("weights_set", None),
        ("battle_started", "strong"),
        ("dethroned", "strong"),
        ("terminated", "champ"),
        ("battle_started", "weak"),
        ("weights_set", None),
        ("terminated", "weak"),
        ("pool_refreshed", None),
        ("weights_set", None),
    ]
    dethroned = decisions[4]["inputs"]
    assert dethroned["verdict"]["winner"] == "challenger"
    assert set(dethroned["verdict"]["per_env"]["SAT"]) >= {"n", "champion_mean", "challenger_mean"}
    assert dethroned["rule"] == "judge" and "champion_scorecard_version" in dethroned


class Crashing(StandingsProjection):
    """Fails once, half-way through a batch, like a process killed mid-transaction."""

    def __init__(self) -> None:
        super().__init__(NETUID)
        self.crashed = False

    def process(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        if isinstance(event, Contest.Dethroned) and not self.crashed:
            self.crashed = True
            raise RuntimeError("crash")
        super().process(event, conn, notification_id)


def test_a_batch_that_fails_half_way_leaves_nothing_and_is_applied_once_later(
    store: Store,
) -> None:
    play(store.app)
    projection = Crashing()
    runner = store.runner([projection], batch=1000)
    with pytest.raises(RuntimeError):
        runner.catch_up()
    assert runner.position(projection) == 0
    assert all(not r for r in rows(store.engine, projection).values())
    runner.catch_up()
    clean = StandingsProjection(NETUID, prefix="clean_")
    store.runner([clean]).catch_up()
    assert rows(store.engine, projection) == rows(store.engine, clean)


def test_two_runners_racing_on_one_read_model_apply_each_event_once(store: Store) -> None:
    play(store.app)
    runners = [
        store.runner([StandingsProjection(NETUID), DecisionsProjection(NETUID)], batch=2)
        for _ in range(3)
    ]
    threads = [threading.Thread(target=r.catch_up) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    single = store.runner(
        [StandingsProjection(NETUID, "single_"), DecisionsProjection(NETUID, "single_")]
    )
    single.catch_up()
    for raced, alone in zip(runners[0].projections, single.projections, strict=True):
        assert rows(store.engine, raced) == rows(store.engine, alone)


def test_a_read_model_catches_up_on_new_events_by_itself(store: Store) -> None:
    """Polling on SQLite; on PostgreSQL the NOTIFY of each save wakes it (the fallback
    wait is a minute, so only a notification can make it in time)."""
    projection = WeightsProjection(NETUID)
    runner = store.runner([projection])
    waiter = waiter_for(store.db, store.app.name, poll_interval=0.02)
    stop, thread = follow(runner, waiter)
    try:
        play(store.app)
        last = store.app.recorder.max_notification_id()
        wait_until(lambda: runner.position(projection) >= (last or 0) - 2)
        with store.engine.connect() as conn:
            wait_until(lambda: len(projection.submissions(conn)) == 3)
    finally:
        stop.set()
        waiter.wake()
        thread.join(timeout=10)
        waiter.close()
    assert not thread.is_alive()


@pytest.mark.postgres
def test_gaps_in_postgres_notification_ids_are_stepped_over(postgres_schema_url: str) -> None:
    db = parse_database_url(postgres_schema_url)
    first = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    second = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    engine = db.create_engine()
    try:
        d = Driver(small_config(burn=0.25), app=first)
        d.join("a", block=1)
        d.sync()
        before = first.recorder.max_notification_id() or 0
        a: Contest = first.repository.get(first.contest_id)
        b: Contest = second.repository.get(second.contest_id)
        a.invalidate("a", "one", 5)
        b.invalidate("a", "two", 5)
        first.save(a)
        with pytest.raises(IntegrityError):
            second.save(b)  # its notification id is used up and never committed
        d.join("b", block=2)
        d.sync()
        ids = [n.id for n in first.recorder.select_notifications(before, 100)]
        assert ids[-1] - ids[0] > len(ids) - 1, "expected a gap in notification ids"
        projection = StandingsProjection(NETUID)
        runner = ProjectionRunner(
            first.recorder, first.mapper, engine, [projection], application=first.name
        )
        runner.catch_up()
        assert runner.position(projection) == ids[-1]
        with engine.connect() as conn:
            miners = conn.execute(sa.select(projection.miners))
            hotkeys = {r.hotkey: r.invalid_reason is None for r in miners}
        assert hotkeys == {"a": False, "b": True}
    finally:
        engine.dispose()
        first.close()
        second.close()
