"""Audits of a real contest log: export, verify, and recompute every decision."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.contest import small_config
from tests.support.forgery import Events, forge
from tests.support.played import play, played_database
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.audit.format import AuditError
from throne.audit.log_export import export_database
from throne.audit.replay import ContestReplay, replay_mapper
from throne.audit.signing import keypair_from_text
from throne.audit.sources import DatabaseLog, ExportFile
from throne.audit.verification import check_export, verify

VALIDATOR = keypair_from_text("//Alice")


@pytest.fixture
def played_db(db_url: str) -> str:
    played_database(db_url)
    return db_url


def verify_file(path: Path) -> Any:
    replay = ContestReplay(replay_mapper())
    summary = check_export(
        ExportFile(path), expected_signer=VALIDATOR.ss58_address, on_event=replay
    )
    return summary, replay.finish()


def test_an_export_of_a_played_contest_verifies_every_decision(
    played_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "audit.jsonl.gz"
    count = export_database(parse_database_url(played_db), out, VALIDATOR)
    chain, replay = verify_file(out)
    assert chain.events == count == replay.events
    assert replay.verdicts_checked == 2  # strong's win, weak's loss
    assert replay.decisions == {"Dethroned": 1, "Terminated": 2}
    assert replay.weights_checked == 3
    assert (replay.pools_checked, replay.pools_unrevealed) == (1, 1)
    # one checkpoint after each weight submission; the last event is one, so it closes the file
    assert chain.checkpoints == 3


def test_a_database_verifies_in_place_and_is_not_modified(played_db: str) -> None:
    db = parse_database_url(played_db)
    before = db.path.read_bytes() if db.path else b""
    replay = verify(DatabaseLog(db)).replay
    assert replay.events == 49 and replay.verdicts_checked == 2
    # in place, the current pool's seed is there to check too
    assert (replay.pools_checked, replay.pools_unrevealed) == (2, 0)
    if db.path is not None:
        assert hashlib.sha256(db.path.read_bytes()).digest() == hashlib.sha256(before).digest()


def test_the_current_pools_seed_is_redacted_and_the_retired_one_revealed(
    played_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "audit.jsonl"
    export_database(parse_database_url(played_db), out, VALIDATOR)
    pools = [
        json.loads(line)["payload"]
        for line in out.read_bytes().splitlines()
        if b'"topic":"throne:Contest.PoolRefreshed"' in line
    ]
    assert [p["pool"] for p in pools] == [1, 2]
    assert pools[0]["seed"] and pools[1]["seed"] is None
    assert pools[1]["seed_commitment"]


def resigned(path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The export with ``edit`` applied to each event, re-signed with the real key."""

    def edited(events: Events) -> Events:
        for record in events:
            edit(record)
        return events

    return forge(path, path.with_name("forged.jsonl"), VALIDATOR, edited)


@pytest.fixture
def sqlite_export(tmp_path: Path) -> Path:
    out = tmp_path / "audit.jsonl"
    export_database(played_database(tmp_path / "log.db"), out, VALIDATOR)
    return out


def test_a_changed_score_is_caught_by_the_recomputed_verdict(sqlite_export: Path) -> None:
    def lower_one_score(record: dict[str, Any]) -> None:
        p = record["payload"]
        if record["topic"] == "throne:Scorecard.SampleScored" and p["hotkey"] == "strong":
            p["score"] = 0.0

    forged = resigned(sqlite_export, lower_one_score)
    with pytest.raises(AuditError) as exc:
        verify_file(forged)
    assert exc.value.kind == "verdict-mismatch"
    assert "Dethroned at id" in str(exc.value) and "strong" in str(exc.value)


def test_a_changed_weight_is_caught_by_the_recomputed_vector(sqlite_export: Path) -> None:
    def grab_weight(record: dict[str, Any]) -> None:
        if record["topic"] == "throne:WeightLedger.WeightsSet":
            record["payload"]["weights"] = {"0": 0.1, "7": 0.9}

    with pytest.raises(AuditError) as exc:
        verify_file(resigned(sqlite_export, grab_weight))
    assert exc.value.kind == "weights-mismatch" and "contest version" in str(exc.value)


def test_a_changed_u16_vector_is_caught(sqlite_export: Path) -> None:
    def skew(record: dict[str, Any]) -> None:
        if record["topic"] == "throne:WeightLedger.WeightsSet":
            record["payload"]["u16"] = [[0, 65535], [2, 100]]

    with pytest.raises(AuditError) as exc:
        verify_file(resigned(sqlite_export, skew))
    assert exc.value.kind == "weights-mismatch" and "u16" in str(exc.value)


def test_a_retired_pool_that_its_seed_does_not_derive_is_caught(sqlite_export: Path) -> None:
    def swap_task(record: dict[str, Any]) -> None:
        p = record["payload"]
        if record["topic"] == "throne:Contest.PoolRefreshed" and p["pool"] == 1:
            p["task_ids"]["SAT"][0] = 39 if p["task_ids"]["SAT"][0] != 39 else 38

    with pytest.raises(AuditError) as exc:
        verify_file(resigned(sqlite_export, swap_task))
    assert exc.value.kind in ("pool-mismatch", "replay-failed", "verdict-mismatch")


def test_a_seed_that_does_not_match_its_commitment_is_caught(sqlite_export: Path) -> None:
    def other_seed(record: dict[str, Any]) -> None:
        p = record["payload"]
        if record["topic"] == "throne:Contest.PoolRefreshed" and p["pool"] == 1:
            p["seed"] = "00" * 8

    with pytest.raises(AuditError) as exc:
        verify_file(resigned(sqlite_export, other_seed))
    assert exc.value.kind == "pool-mismatch" and "commitment" in str(exc.value)


def test_a_score_changed_in_place_is_named_as_altered_not_as_the_verdict_it_breaks(
    sqlite_export: Path,
) -> None:
    # Not re-signed: the recomputed verdict fails before the next checkpoint, but the broken
    # hash chain there is the cause, and is named.
    lines = sqlite_export.read_bytes().splitlines(keepends=True)
    i = next(
        i
        for i, line in enumerate(lines)
        if b"SampleScored" in line and b'"hotkey":"strong"' in line and b'"score":1.0' in line
    )
    lines[i] = lines[i].replace(b'"score":1.0', b'"score":0.0')
    sqlite_export.write_bytes(b"".join(lines))
    with pytest.raises(AuditError) as exc:
        verify_file(sqlite_export)
    assert exc.value.kind == "altered" and "hash chain broken" in str(exc.value)


def test_the_replay_lets_go_of_a_retired_pools_samples(sqlite_export: Path) -> None:
    replay = ContestReplay(replay_mapper())
    held: list[set[Any]] = []

    def feed(event: Any) -> None:
        replay(event)
        held.append(replay.pools_held)

    check_export(ExportFile(sqlite_export), on_event=feed)
    assert replay.finish().verdicts_checked == 2
    assert {1} in held  # pool 1's samples, kept while it was the pool
    assert replay.pools_held <= {2}  # and dropped once pool 2 replaced it


@dataclass
class Racing:
    """A played log whose daemon draws pool 3 while an audit reads it, in small pages as a
    long log is read: ``progress`` is the hook that lets the daemon go on."""

    db: Any
    app: ThroneApplication
    steps: list[str]
    driver: Any

    def progress(self, done: int, total: int) -> None:
        if not self.steps:
            self.steps.extend(self.driver.tick(240))


@pytest.fixture
def racing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Racing]:
    from throne.audit import stored

    db = parse_database_url(str(tmp_path / "log.db"))
    app = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    race = Racing(db, app, [], play(app))
    monkeypatch.setattr(stored, "PROGRESS_EVERY", 10)
    monkeypatch.setattr(stored, "PAGE", 5)
    yield race
    app.close()


def test_an_export_racing_a_pool_refresh_never_reveals_the_new_pools_seed(
    racing: Racing, tmp_path: Path
) -> None:
    out = tmp_path / "audit.jsonl"
    count = export_database(racing.db, out, VALIDATOR, progress=racing.progress)
    assert racing.steps == ["pool_refreshed"]
    pools = [
        json.loads(line)["payload"]
        for line in out.read_bytes().splitlines()
        if b'"topic":"throne:Contest.PoolRefreshed"' in line
    ]
    # The export is the log as it stood when it began: pool 2 current, its seed withheld.
    assert [p["pool"] for p in pools] == [1, 2] and pools[-1]["seed"] is None
    assert count == 49
    assert verify_file(out)[1].pools_unrevealed == 1


def test_a_verification_in_place_reads_the_log_as_it_stood_when_it_began(racing: Racing) -> None:
    replay = verify(DatabaseLog(racing.db), progress=lambda _, *p: racing.progress(*p)).replay
    assert racing.steps == ["pool_refreshed"]
    assert replay.events == 49 and replay.pools_checked == 2
