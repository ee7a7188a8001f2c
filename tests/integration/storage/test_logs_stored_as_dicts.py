"""Logs stored while the contest's state was plain dicts load into today's records, go on, and
verify: their events and snapshots are upcast on load, and new events carry records through
the registered transcodings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from tests.support.contest import Driver, read_standings, small_config
from tests.support.paths import FIXTURES
from tests.support.played import set_weights
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.audit.log_export import export_database
from throne.audit.signing import keypair_from_text
from throne.audit.sources import DatabaseLog, ExportFile
from throne.audit.verification import verify
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.rules import Verdict
from throne.domain.contest.scorecard import Scorecard
from throne.domain.contest.state import Battle, Champion, DecisionInputs, MinerRef, Pool
from throne.domain.queue.miners import MinerRecord, Status

FIXTURE = FIXTURES / "stored-log-dicts.jsonl"
ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def stored(kind: str) -> list[StoredEvent]:
    out = []
    for line in FIXTURE.read_text().splitlines():
        r = json.loads(line)
        if r["kind"] == kind:
            out.append(
                StoredEvent(
                    originator_id=UUID(r["originator"]),
                    originator_version=r["version"],
                    topic=r["topic"],
                    state=r["state"].encode("utf-8"),
                )
            )
    return out


def old_log(tmp_path: Path) -> tuple[ThroneApplication, str]:
    """An application on a new SQLite file holding exactly the fixture's events and snapshots."""
    url = str(tmp_path / "old.db")
    env = parse_database_url(url).eventsourcing_env()
    app = ThroneApplication(small_config(burn=0.25), env=env)
    app.recorder.insert_events(stored("event"))
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events(stored("snapshot"))
    return app, url


def fold(app: ThroneApplication, aggregate_id: UUID) -> Any:
    aggregate = None
    for e in app.events.get(aggregate_id):
        aggregate = e.mutate(aggregate)
    return aggregate


def test_the_fixture_holds_dict_state_and_snapshots_of_every_kind() -> None:
    snapshots = [json.loads(s.state)["topic"] for s in stored("snapshot")]
    assert sorted(set(snapshots)) == ["throne:Contest", "throne:Scorecard", "throne:WeightLedger"]
    for s in stored("snapshot") + stored("event"):
        assert b"class_version" not in s.state and b'"_type_":"verdict"' not in s.state


def test_a_contest_snapshot_of_plain_dicts_loads_into_records(tmp_path: Path) -> None:
    app, _ = old_log(tmp_path)
    contest: Contest = app.repository.get(app.contest_id)
    assert contest.version == 17  # exactly the snapshot's version: no contest event follows it
    assert isinstance(contest.config, ContestConfig) and contest.config.burn == 0.25
    assert contest.champion == Champion("strong", "r1", 8)
    assert contest.battle == Battle("later", "r1", 11, 61, 1, 0)
    assert isinstance(contest.pool, Pool) and contest.pool.pool == 1
    assert all(isinstance(m, MinerRecord) for m in contest.miners.values())
    assert contest.miners["garbled"].invalid_reason == "invalid_json"
    assert contest.miners["gone"].uid is None
    assert contest.miners["later"].model_hash == "ab" * 32
    assert contest.miners["later"].status is Status.BATTLING
    assert contest.miners["champ"].status is Status.TERMINATED
    app.close()


def test_every_aggregate_loaded_from_an_old_snapshot_equals_the_fold_of_its_old_events(
    tmp_path: Path,
) -> None:
    app, _ = old_log(tmp_path)
    ids = {s.originator_id for s in stored("event")}
    snapshotted = {s.originator_id for s in stored("snapshot")}
    assert len(snapshotted) == 5 and snapshotted < ids
    for aggregate_id in ids:
        assert app.repository.get(aggregate_id) == fold(app, aggregate_id)
    card: Scorecard = app.repository.get(next(iter(snapshotted - {app.contest_id})))
    assert isinstance(card, Scorecard) and card.scores()
    app.close()


def test_old_decisions_decode_with_records_for_their_verdicts(tmp_path: Path) -> None:
    app, _ = old_log(tmp_path)
    events = list(app.events.get(app.contest_id))
    (dethroned,) = [e for e in events if isinstance(e, Contest.Dethroned)]
    assert dethroned.old_champion == MinerRef("champ", "r1", 1)
    assert dethroned.new_champion == MinerRef("strong", "r1", 2)
    assert isinstance(dethroned.verdict, Verdict) and dethroned.verdict.winner == "challenger"
    assert dethroned.inputs == DecisionInputs(11, 11, "judge")
    lost = [e for e in events if isinstance(e, Contest.Terminated) and e.verdict is not None]
    assert [e.hotkey for e in lost] == ["weak"]
    assert lost[0].inputs is not None and lost[0].inputs.rule == "early_regression"
    (created,) = [e for e in events if isinstance(e, Contest.Created)]
    # Written before pools had an order: it compared the tasks both sides scored.
    assert created.config == small_config(burn=0.25, evidence="common")
    app.close()


def test_an_old_log_goes_on_with_records_and_the_mixed_log_verifies(tmp_path: Path) -> None:
    app, url = old_log(tmp_path)
    d = Driver(small_config(burn=0.25), app=app)
    # The challenger scored half its tasks 1.0 and half 0.0 against a champion at 1.0.
    assert d.tick(13) == ["terminated"]  # and nobody eligible is left to battle
    set_weights(app, 13)
    new = list(app.recorder.select_notifications(start=1, limit=10_000))[len(stored("event")) :]
    terminated = next(n for n in new if n.topic == Contest.Terminated.TOPIC)
    assert b'"class_version":2' in terminated.state
    assert b'"_type_":"verdict"' in terminated.state
    assert b'"_type_":"decision_inputs"' in terminated.state
    app.take_snapshot(app.contest_id)
    reloaded = ThroneApplication(
        small_config(burn=0.25), env=parse_database_url(url).eventsourcing_env()
    )
    assert reloaded.repository.get(app.contest_id) == fold(app, app.contest_id)
    assert read_standings(reloaded) == read_standings(app)
    reloaded.close()
    app.close()

    summary = verify(DatabaseLog(parse_database_url(url))).replay
    assert summary.verdicts_checked == 3  # two stored as dicts, one as a record
    assert summary.weights_checked == 4
    export = tmp_path / "mixed.jsonl"
    export_database(parse_database_url(url), export, keypair_from_text("//Alice"))
    replay = verify(ExportFile(export), expected_signer=ALICE, jobs=1).replay
    assert replay.verdicts_checked == 3
    assert replay.decisions == {"Dethroned": 1, "Terminated": 3}
