"""Exports written by earlier builds, one per format version: each must keep verifying, and say
how far it can be trusted to go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import FIXTURES
from throne.audit.format import FORMAT_VERSION, AuditError
from throne.audit.sources import ExportFile
from throne.audit.verification import verify

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"


def golden(version: int) -> Path:
    return FIXTURES / f"golden-log-v{version}.jsonl"


def audit_export(path: Path, **kwargs: Any) -> tuple[Any, Any]:
    report = verify(ExportFile(path), **kwargs)
    return report.export, report.replay


def test_there_is_a_golden_export_of_the_format_written_today() -> None:
    assert golden(FORMAT_VERSION).exists()


@pytest.mark.parametrize("version", [1, 3])
def test_a_golden_export_verifies_and_replays_the_same_contest(version: int) -> None:
    chain, replay = audit_export(golden(version), expected_signer=ALICE, jobs=1)
    assert chain.format_version == version and chain.events == replay.events == 49
    assert (replay.verdicts_checked, replay.weights_checked) == (2, 3)
    assert replay.decisions == {"Dethroned": 1, "Terminated": 2}


def test_the_version_1_golden_export_says_its_end_is_unsigned() -> None:
    chain, _ = audit_export(golden(1), expected_signer=ALICE, jobs=1)
    assert not chain.end_signed and chain.block is None


def test_the_version_3_golden_export_is_complete_to_the_block_its_signed_end_names() -> None:
    chain, _ = audit_export(golden(3), expected_signer=ALICE, jobs=1)
    assert chain.end_signed and chain.block == 120


def test_the_version_3_golden_export_cut_short_fails(tmp_path: Path) -> None:
    lines = golden(3).read_bytes().splitlines(keepends=True)
    cut = max(i for i, line in enumerate(lines[:-3]) if line.startswith(b'{"checkpoint":'))
    copy = tmp_path / "cut.jsonl"
    copy.write_bytes(b"".join(lines[: cut + 1]) + lines[-1])
    with pytest.raises(AuditError) as exc:
        audit_export(copy, expected_signer=ALICE, jobs=1)
    assert exc.value.kind == "altered" and "another edition" in str(exc.value)
