"""``verify(source)``: one service for an export (a file, compressed or not, or standard input)
and for a database, whose report says what was read and what was recomputed."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from tests.support.played import played_database
from throne.adapters.storage.database import Database
from throne.audit.log_export import export_database
from throne.audit.signing import keypair_from_text
from throne.audit.sources import DatabaseLog, ExportFile, StandardInput, export_source
from throne.audit.verification import Rescoring, Stage, verify

VALIDATOR = keypair_from_text("//Alice")


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, Path]:
    tmp = tmp_path_factory.mktemp("played")
    db = played_database(tmp / "log.db")
    out = tmp / "audit.jsonl"
    export_database(db, out, VALIDATOR)
    return db, out


def test_an_export_and_its_database_replay_to_the_same_contest(
    played: tuple[Database, Path],
) -> None:
    db, out = played
    from_file = verify(ExportFile(out), expected_signer=VALIDATOR.ss58_address, jobs=1)
    in_place = verify(DatabaseLog(db))
    assert from_file.export is not None and from_file.export.events == 49
    assert from_file.signer_pinned and from_file.source == str(out)
    assert in_place.export is None and in_place.source == db.display
    for field in ("events", "verdicts_checked", "weights_checked", "decisions"):
        assert getattr(from_file.replay, field) == getattr(in_place.replay, field)
    # in place the current pool's seed is there to check; the export withholds it
    assert (in_place.replay.pools_checked, from_file.replay.pools_checked) == (2, 1)


def test_each_stage_reports_its_own_progress(
    played: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from throne.audit import stored

    db, out = played
    monkeypatch.setattr(stored, "PROGRESS_EVERY", 10)
    stages: list[Stage] = []
    verify(ExportFile(out), jobs=1, progress=lambda stage, *_: stages.append(stage))
    verify(DatabaseLog(db), progress=lambda stage, *_: stages.append(stage))
    assert set(stages) == {Stage.EXPORT, Stage.LOG}


def test_standard_input_compressed_or_not_is_the_same_export(
    played: tuple[Database, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, out = played
    assert isinstance(export_source(Path("-")), StandardInput)
    reports = []
    for data in (out.read_bytes(), gzip.compress(out.read_bytes())):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
        report = verify(StandardInput())
        assert report.source == "standard input" and report.export is not None
        reports.append({**report.to_dict(), "source": None})
    from_file = {**verify(ExportFile(out), jobs=1).to_dict(), "source": None}
    assert reports[0] == reports[1] == from_file


def test_responses_are_re_scored_from_a_database_only(played: tuple[Database, Path]) -> None:
    _, out = played
    with pytest.raises(ValueError, match="database"):
        verify(ExportFile(out), rescore=Rescoring({}))
