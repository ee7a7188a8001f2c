"""The progress line of long commands, and the progress the audit reports to it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.support.contest import small_config
from tests.support.played import play
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.audit import spans, stored
from throne.audit.log_export import export_database
from throne.audit.signing import keypair_from_text
from throne.audit.sources import DatabaseLog, ExportFile
from throne.audit.verification import check_export, verify
from throne.cli import progress as progress_module
from throne.cli.progress import ProgressLine

VALIDATOR = keypair_from_text("//Alice")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_written_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    with ProgressLine("verifying", stream=out) as line:
        assert not line.enabled
        line.update(5, 10)
    assert out.getvalue() == ""


def test_a_terminal_sees_percent_and_amount_rewritten_in_place_then_erased(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([100.0, 100.1, 100.5, 101.0])
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    out = Terminal()
    with ProgressLine("verifying", stream=out) as line:
        line.update(250_000_000, 1_000_000_000)
        line.update(300_000_000, 1_000_000_000)  # too soon after the last: skipped
        line.update(500_000_000, 1_000_000_000)
        line.update(7_000_000)  # total unknown: the amount alone
    text = out.getvalue()
    assert "verifying   25%  (250 of 1,000 MB)" in text
    assert "(300 of" not in text and " 50%  (500 of 1,000 MB)" in text
    assert "verifying  7 MB" in text
    assert text.endswith("\r\x1b[2K")


def test_counts_without_a_unit() -> None:
    out = io.StringIO()
    line = ProgressLine("exporting", unit="", scale=1, stream=out, enabled=True)
    line.update(4500, 9000)
    assert out.getvalue().endswith("exporting   50%  (4,500 of 9,000)")


@pytest.fixture(scope="module")
def played_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "log.db"
    app = ThroneApplication(
        small_config(burn=0.25), env=parse_database_url(str(path)).eventsourcing_env()
    )
    play(app)
    app.close()
    return path


def test_exports_and_database_verifications_report_ids_up_to_the_last(
    played_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored, "PROGRESS_EVERY", 10)
    db = parse_database_url(str(played_db))
    seen: list[tuple[int, int]] = []
    export_database(db, tmp_path / "a.jsonl", VALIDATOR, progress=lambda *p: seen.append(p))
    assert len(seen) == 4  # after events 10, 20, 30 and 40 of 49
    assert all(total == seen[0][1] for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] < seen[0][1]
    seen.clear()
    verify(DatabaseLog(db), progress=lambda _, *p: seen.append(p))
    assert len(seen) == 4


@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_verification_reports_bytes_up_to_the_whole_file(
    played_db: Path, tmp_path: Path, compressed: bool
) -> None:
    path = tmp_path / ("a.jsonl.gz" if compressed else "a.jsonl")
    export_database(parse_database_url(str(played_db)), path, VALIDATOR, checkpoint_every=2)
    seen: list[tuple[int, int]] = []
    check_export(ExportFile(path), progress=lambda *p: seen.append(p))
    size = path.stat().st_size
    # compressed or not, the bytes counted are the file's own
    assert seen and seen[-1] == (size, size)


def test_a_verification_in_spans_reports_the_first_span_scaled_to_the_file(
    played_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spans, "MIN_PARALLEL_BYTES", 0)
    path = tmp_path / "a.jsonl"
    export_database(parse_database_url(str(played_db)), path, VALIDATOR, checkpoint_every=2)
    assert len(spans.plan_spans(ExportFile(path), 2)) == 2
    seen: list[tuple[int, int]] = []
    verify(ExportFile(path), jobs=2, progress=lambda _, *p: seen.append(p))
    size = path.stat().st_size
    assert seen and seen[-1] == (size, size)
