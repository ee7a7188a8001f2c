"""Read models on SQLite and PostgreSQL: exactly once, rebuildable, and caught up live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import IntegrityError

from tests.support.contest import Driver, fixed, fraction, small_config
from tests.support.played import play
from throne.adapters.storage.database import Database, parse_database_url
from throne.application import ThroneApplication
from throne.domain.contest.contest import Contest
from throne.projections import all_projections
from throne.projections.audit import AuditProjection
from throne.projections.base import Projection
from throne.projections.runner import PollingWaiter, ProjectionRunner, waiter_for
from throne.projections.standings import StandingsProjection
from throne.projections.weights import WeightsProjection


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
            projections if projections is not None else all_projections(),
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
    rebuilt = store.runner(all_projections(prefix="rebuild_"))
    assert rebuilt.catch_up() > 0
    for old, new in zip(live.projections, rebuilt.projections, strict=True):
        assert rows(store.engine, old) == rows(store.engine, new), old.name
        assert rows(store.engine, old)  # not trivially equal


def test_standings_read_model_says_what_the_application_says(store: Store) -> None:
    d = play(store.app)
    d.score({"strong": fixed(1.0)})
    d.join("late", block=100)
    d.sync()
    assert d.tick(121) == ["battle_started"]
    d.score({"late": fraction(0.5)})
    projection = StandingsProjection()
    store.runner([projection]).catch_up()
    with store.engine.connect() as conn:
        read = projection.read(conn)
    expected = store.app.standings()
    for key in ("champion", "battle"):
        assert read[key] == {k: v for k, v in expected[key].items() if k in read[key]}
    assert read["battle"]["progress"] == expected["battle"]["progress"]
    assert read["battle"]["progress"]["SAT"]["common"] == 5  # the whole pool of ceil(4 * 1.1)
    assert read["pool"] == expected["pool"]
    assert [m["hotkey"] for m in read["terminated"]] == ["champ", "weak"]
    assert read["queue"] == [
        {k: v for k, v in m.items() if k in read["queue"][i]}
        for i, m in enumerate(expected["queue"])
    ]
    assert [
        (r["hotkey"], r["how"], r["from_block"], r["to_block"], r["ended_by"])
        for r in read["reigns"]
    ] == [
        ("champ", "cold_start", 6, 8, "strong"),
        ("strong", "dethroned:champ", 8, None, None),
    ]


def test_weights_read_model_holds_the_current_vector_and_every_submission(store: Store) -> None:
    play(store.app)
    projection = WeightsProjection()
    store.runner([projection]).catch_up()
    with store.engine.connect() as conn:
        assert projection.current_weights(conn) == store.app.weights()[1] == {2: 0.75, 0: 0.25}
        history = projection.submissions(conn)
    assert [h["block"] for h in history] == [6, 8, 120]
    assert history[0]["weights"] == {"0": 0.25, "1": 0.75}  # champ's reign
    assert history[1]["u16"] == [[0, 21845], [2, 65535]]


def test_audit_read_model_has_one_row_per_decision(store: Store) -> None:
    play(store.app)
    projection = AuditProjection()
    store.runner([projection]).catch_up()
    with store.engine.connect() as conn:
        decisions = projection.decisions_list(conn)
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


class Crashing(WeightsProjection):
    """Fails once, half-way through a batch, like a process killed mid-transaction."""

    def __init__(self) -> None:
        super().__init__()
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
    clean = WeightsProjection(prefix="clean_")
    store.runner([clean]).catch_up()
    assert rows(store.engine, projection) == rows(store.engine, clean)


def test_two_runners_racing_on_one_read_model_apply_each_event_once(store: Store) -> None:
    play(store.app)
    runners = [store.runner([WeightsProjection(), AuditProjection()], batch=2) for _ in range(3)]
    threads = [threading.Thread(target=r.catch_up) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    single = store.runner([WeightsProjection("single_"), AuditProjection("single_")])
    single.catch_up()
    for raced, alone in zip(runners[0].projections, single.projections, strict=True):
        assert rows(store.engine, raced) == rows(store.engine, alone)


def test_a_read_model_catches_up_on_new_events_by_itself(store: Store) -> None:
    """Polling on SQLite; on PostgreSQL the NOTIFY of each save wakes it (the fallback
    wait is a minute, so only a notification can make it in time)."""
    projection = WeightsProjection()
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
        projection = WeightsProjection()
        runner = ProjectionRunner(
            first.recorder, first.mapper, engine, [projection], application=first.name
        )
        runner.catch_up()
        assert runner.position(projection) == ids[-1]
        with engine.connect() as conn:
            hotkeys = {r.hotkey: r.valid for r in conn.execute(sa.select(projection.miners))}
        assert hotkeys == {"a": False, "b": True}
    finally:
        engine.dispose()
        first.close()
        second.close()
