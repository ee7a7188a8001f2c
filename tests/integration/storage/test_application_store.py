"""The application on the durable stores: replay, single writer, snapshots, stable topics."""

from __future__ import annotations

from pathlib import Path

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic, resolve_topic

from tests.support.contest import Driver, read_miner, read_standings, small_config
from tests.support.paths import FIXTURES
from tests.support.played import play
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.audit.load import load_export
from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.domain.contest.scorecard import Scorecard

GOLDEN = FIXTURES / "golden-log-v1.jsonl"
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"

#: Every topic ever written. A rename must keep the old string (or upcast): stored logs use it.
STABLE_TOPICS = {
    "throne:Contest",
    "throne:Contest.Created",
    "throne:Contest.Reconfigured",
    "throne:Contest.Committed",
    "throne:Contest.Invalidated",
    "throne:Contest.Registered",
    "throne:Contest.Deregistered",
    "throne:Contest.ModelHashRecorded",
    "throne:Contest.PoolRefreshed",
    "throne:Contest.ChampionCrowned",
    "throne:Contest.BattleStarted",
    "throne:Contest.ChallengerReleased",
    "throne:Contest.Dethroned",
    "throne:Contest.Terminated",
    "throne:Contest.Blacklisted",
    "throne:Contest.Unblacklisted",
    "throne:Contest.BurnSet",
    "throne:Contest.PoolRotationOrdered",
    "throne:Contest.Paused",
    "throne:Contest.Resumed",
    "throne:Scorecard",
    "throne:Scorecard.Created",
    "throne:Scorecard.SampleScored",
    "throne:WeightLedger",
    "throne:WeightLedger.Created",
    "throne:WeightLedger.WeightsSet",
}


def open_app(url: str, **env: str) -> ThroneApplication:
    return ThroneApplication(
        small_config(burn=0.25), env={**parse_database_url(url).eventsourcing_env(), **env}
    )


def test_a_contest_reopened_from_the_store_is_the_one_played(db_url: str) -> None:
    live = open_app(db_url)
    play(live)
    expected = (read_standings(live), live.weights(), live.repository.get(live.contest_id))
    live.close()
    reopened = open_app(db_url)
    try:
        contest = reopened.repository.get(reopened.contest_id)
        assert (read_standings(reopened), reopened.weights(), contest) == expected
        assert read_standings(reopened)["champion"]["hotkey"] == "strong"
    finally:
        reopened.close()


def test_two_writers_on_one_log_cannot_both_decide(db_url: str) -> None:
    first, second = open_app(db_url), open_app(db_url)
    try:
        play(first)
        a: Contest = first.repository.get(first.contest_id)
        b: Contest = second.repository.get(second.contest_id)
        a.invalidate("strong", "copy_detected", 200)
        b.invalidate("strong", "other_reason", 200)
        first.save(a)
        with pytest.raises(IntegrityError):
            second.save(b)
        assert read_miner(second, "strong")["invalid_reason"] == "copy_detected"  # type: ignore[index]
    finally:
        first.close()
        second.close()


def test_a_long_contest_stream_loads_from_a_snapshot(tmp_path: Path) -> None:
    url = str(tmp_path / "long.db")
    app = open_app(url)
    d = Driver(small_config(burn=0.25), app=app)
    d.join("a", uid=1)
    for i in range(260):  # each sync moves "a" to another uid: one Registered event each
        d.chain.neurons["a"] = 1 + (i % 2)
        d.sync()
    version = app.contest_version()
    assert version > 250
    snapshot = next(iter(app.snapshots.get(app.contest_id, desc=True, limit=1)))  # type: ignore[union-attr]
    assert version - snapshot.originator_version < 100
    # a load reads the snapshot and only the events after it...
    assert len(list(app.events.get(app.contest_id, gt=snapshot.originator_version))) < 100
    # ...and gives the aggregate a full replay gives
    full = open_app(url, IS_SNAPSHOTTING_ENABLED="n")
    try:
        assert full.snapshots is None
        assert full.repository.get(full.contest_id) == app.repository.get(app.contest_id)
        assert full.contest_version() == version
    finally:
        full.close()
        app.close()


def event_classes() -> list[type]:
    out: list[type] = []
    for aggregate in (Contest, Scorecard, WeightLedger):
        out.append(aggregate)
        out += [
            v
            for v in vars(aggregate).values()
            # the base ``Event`` class is never stored itself
            if isinstance(v, type) and issubclass(v, Aggregate.Event) and v.__name__ != "Event"
        ]
    return out


def test_every_aggregate_and_event_has_an_explicit_stable_topic() -> None:
    topics = set()
    for cls in event_classes():
        explicit = getattr(cls, "TOPIC", None)
        assert explicit, f"{cls.__qualname__} has no explicit TOPIC"
        # what the store writes is the explicit string, not the module path
        assert get_topic(cls) == explicit and resolve_topic(explicit) is cls
        topics.add(explicit)
    assert topics == STABLE_TOPICS


def test_a_played_log_uses_only_stable_topics(tmp_path: Path) -> None:
    app = open_app(str(tmp_path / "t.db"))
    play(app)
    topics = {n.topic for n in app.recorder.select_notifications(1, 10_000)}
    app.close()
    assert topics <= STABLE_TOPICS


def test_the_golden_log_still_loads_and_means_the_same(db_url: str) -> None:
    """The log committed in tests/fixtures was written by an earlier build of this code."""
    db = parse_database_url(db_url)
    assert load_export(GOLDEN, db, expected_signer=ALICE) == 49
    app = open_app(db_url)
    try:
        standings = read_standings(app)
        assert standings["champion"]["hotkey"] == "strong"
        assert {m["hotkey"]: m["terminated_reason"] for m in standings["terminated"]} == {
            "champ": "dethroned_by:strong",
            "weak": "lost_to_champion:early_regression_in_SAT",
        }
        assert standings["pool"]["pool"] == 2
        assert app.weights()[1] == {2: 0.75, 0: 0.25}
    finally:
        app.close()
