"""`throne audit export|verify` as a user runs them: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.contest import Driver, small_config
from tests.support.paths import FIXTURES
from tests.support.played import play, play_first_pool, retire_first_pool
from tests.support.ports import refusing_port
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.audit.signing import keypair_from_text
from throne.cli.main import main


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("THRONE_DB", raising=False)


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "log.db"
    app = ThroneApplication(
        small_config(burn=0.25), env=parse_database_url(str(path)).eventsourcing_env()
    )
    play(app)
    app.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_verify_prints_a_summary_and_exits_0(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit.jsonl.gz"
    code, text, _ = run(
        capsys, "audit", "export", "--db", f"sqlite:///{db_file}", "--out", str(out)
    )
    assert code == 0 and "exported 49 events" in text
    signer = text.rsplit(" ", 1)[-1].strip()
    code, text, err = run(capsys, "audit", "verify", str(out), "--signer", signer)
    assert code == 0, err
    assert "audit verify: OK" in text and "verdicts recomputed" in text and "2, all match" in text


def test_verify_json_reports_the_counts(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = run(capsys, "audit", "verify", "--db", str(db_file), "--json")
    report = json.loads(text)
    assert code == 0 and report["ok"] and report["verdicts_checked"] == 2
    assert report["weights_checked"] == 3 and report["chain"] is None


def test_the_local_key_is_generated_once_and_reused(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signers = set()
    for name in ("a.jsonl", "b.jsonl"):
        code, text, _ = run(
            capsys, "audit", "export", "--db", str(db_file), "--out", str(tmp_path / name), "--json"
        )
        signers.add(json.loads(text)["signer"])
    assert code == 0 and len(signers) == 1
    assert (tmp_path / "data" / "throne" / "audit-signing-key").stat().st_mode & 0o777 == 0o600


def test_an_export_checked_against_another_signer_fails_in_one_line(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit.jsonl"
    key = tmp_path / "key"
    key.write_text("//Mallory\n")
    run(capsys, "audit", "export", "--db", str(db_file), "--out", str(out), "--key", str(key))
    validator = keypair_from_text("//Alice").ss58_address
    code, text, err = run(capsys, "audit", "verify", str(out), "--signer", validator)
    assert code == 1 and text == ""
    assert err.count("\n") == 1 and "wrong-signer" in err and validator in err


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        ("missing_file", "cannot read"),
        ("truncated_gz", "truncated"),
        ("newer", "newer throne"),
        ("garbage", "not-an-export"),
    ],
)
def test_bad_exports_fail_in_one_line(
    db_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    fragment: str,
) -> None:
    out = tmp_path / "audit.jsonl.gz"
    run(capsys, "audit", "export", "--db", str(db_file), "--out", str(out))
    if setup == "missing_file":
        out = tmp_path / "nope.jsonl"
    elif setup == "truncated_gz":
        out.write_bytes(out.read_bytes()[:-100])
    elif setup == "newer":
        lines = gzip.decompress(out.read_bytes()).splitlines()
        header = json.loads(lines[0])
        header["version"] = 9
        out.write_bytes(
            gzip.compress(b"\n".join([json.dumps(header).encode(), *lines[1:]]) + b"\n")
        )
    elif setup == "garbage":
        out.write_bytes(b'{"hello": "world"}\n')
    code, _, err = run(capsys, "audit", "verify", str(out))
    assert code == 1 and fragment in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_verify_on_a_missing_database_fails_without_creating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "audit", "verify", "--db", str(tmp_path / "none.db"))
    assert code == 1 and "database not found" in err and err.count("\n") == 1
    assert not (tmp_path / "none.db").exists()


def test_verify_on_a_file_that_is_not_a_throne_log_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.commit()
    code, _, err = run(capsys, "audit", "verify", "--db", str(other))
    assert code == 1 and "no throne event log" in err and err.count("\n") == 1


def test_verify_on_an_unreachable_postgres_fails_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with refusing_port() as port:
        url = f"postgresql://u:p@127.0.0.1:{port}/x?connect_timeout=2"
        code, _, err = run(capsys, "audit", "verify", "--db", url)
    assert code == 1 and "cannot reach PostgreSQL" in err and err.count("\n") == 1


def test_rescore_of_an_export_asks_for_the_database_holding_the_responses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "audit", "verify", str(tmp_path / "x.jsonl"), "--rescore")
    assert code == 1 and "use --db URL" in err and err.count("\n") == 1


def test_verify_in_several_processes_reports_what_one_pass_reports(
    db_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from throne.audit import spans

    monkeypatch.setattr(spans, "MIN_PARALLEL_BYTES", 0)
    out = tmp_path / "audit.jsonl"
    run(
        capsys,
        "audit",
        "export",
        "--db",
        str(db_file),
        "--out",
        str(out),
        "--checkpoint-every",
        "4",
    )
    reports = []
    for jobs in ("1", "3"):
        code, text, err = run(capsys, "audit", "verify", str(out), "--jobs", jobs, "--json")
        assert code == 0, err
        report = json.loads(text)
        del report["seconds"], report["events_per_second"]
        reports.append(report)
    assert reports[0] == reports[1] and reports[0]["verdicts_checked"] == 2
    assert reports[0]["chain"]["checkpoints"] > 3


def test_jobs_must_be_a_positive_number_and_only_split_a_file(
    db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "verify", "x.jsonl", "--jobs", "0"])
    assert exc.value.code == 2 and "at least 1" in capsys.readouterr().err
    code, _, err = run(capsys, "audit", "verify", "--db", str(db_file), "--jobs", "2")
    assert code == 1 and "one pass" in err and err.count("\n") == 1


@pytest.mark.parametrize("compressed", [False, True])
def test_an_export_piped_to_standard_input_verifies(
    db_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    compressed: bool,
) -> None:
    import io

    out = tmp_path / ("audit.jsonl.gz" if compressed else "audit.jsonl")
    run(capsys, "audit", "export", "--db", str(db_file), "--out", str(out))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(out.read_bytes())))
    code, text, err = run(capsys, "audit", "verify", "-", "--json")
    assert code == 0, err
    report = json.loads(text)
    assert report["source"] == "standard input" and report["verdicts_checked"] == 2
    # cut short in the pipe: one line, no traceback
    cut = out.read_bytes()[: out.stat().st_size // 2]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(cut)))
    code, _, err = run(capsys, "audit", "verify", "-")
    assert code == 1 and "truncated" in err and err.count("\n") == 1


@pytest.fixture
def growing_db(tmp_path: Path) -> Iterator[tuple[Path, Driver]]:
    """A log still being written: pool 1 current, then retired when the test says."""
    path = tmp_path / "growing.db"
    app = ThroneApplication(
        small_config(burn=0.25), env=parse_database_url(str(path)).eventsourcing_env()
    )
    yield path, play_first_pool(app)
    app.close()


def test_append_extends_an_export_and_reveals_the_retired_pool(
    growing_db: tuple[Path, Driver], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, driver = growing_db
    out = tmp_path / "audit.jsonl"
    key = tmp_path / "key"
    key.write_text("//Alice\n")
    export = ("audit", "export", "--db", str(db), "--out", str(out), "--key", str(key))
    assert run(capsys, *export)[0] == 0
    code, text, _ = run(capsys, *export, "--append")
    assert code == 0 and "up to date" in text and "left unchanged" in text
    retire_first_pool(driver)
    code, text, _ = run(capsys, *export, "--append")
    assert code == 0 and "appended 2 events" in text and "revealed 1 pool seed," in text
    code, text, err = run(capsys, "audit", "verify", str(out), "--json")
    report = json.loads(text)
    assert code == 0, err
    assert report["chain"]["format_version"] == 3 and report["pools_checked"] == 1
    assert report["chain"]["end_signed"] and report["chain"]["complete_to_block"] == 120
    code, text, _ = run(capsys, *export, "--append", "--json")
    assert code == 0 and json.loads(text)["changed"] is False


@pytest.mark.parametrize("setup", ["other_key", "truncated", "compressed", "missing", "every"])
def test_append_refuses_in_one_line_and_leaves_the_file_as_it_was(
    growing_db: tuple[Path, Driver],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
) -> None:
    db, driver = growing_db
    out = tmp_path / ("audit.jsonl.gz" if setup == "compressed" else "audit.jsonl")
    key = tmp_path / "key"
    key.write_text("//Alice\n")
    assert (
        run(capsys, "audit", "export", "--db", str(db), "--out", str(out), "--key", str(key))[0]
        == 0
    )
    retire_first_pool(driver)
    extra: tuple[str, ...] = ()
    if setup == "other_key":
        key.write_text("//Mallory\n")
    elif setup == "truncated":
        out.write_bytes(out.read_bytes()[:-30])
    elif setup == "missing":
        out = tmp_path / "none.jsonl"
    elif setup == "every":
        extra = ("--checkpoint-every", "5")
    before = out.read_bytes() if out.exists() else None
    code, text, err = run(
        capsys,
        "audit",
        "export",
        "--db",
        str(db),
        "--out",
        str(out),
        "--key",
        str(key),
        "--append",
        *extra,
    )
    assert code == 1 and text == "" and err.count("\n") == 1 and "Traceback" not in err
    fragment = {
        "other_key": "not by this key",
        "truncated": "truncated",
        "compressed": "compressed",
        "missing": "cannot open",
        "every": "checkpoint interval",
    }[setup]
    assert fragment in err
    assert (out.read_bytes() if out.exists() else None) == before


GOLDEN_V1 = FIXTURES / "golden-log-v1.jsonl"


def test_verify_says_how_far_the_signed_end_record_vouches_for_the_export(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audit.jsonl"
    assert run(capsys, "audit", "export", "--db", str(db_file), "--out", str(out))[0] == 0
    code, text, err = run(capsys, "audit", "verify", str(out))
    assert code == 0, err
    assert "signed: complete to block 120" in text
    code, text, _ = run(capsys, "audit", "verify", str(out), "--json")
    chain = json.loads(text)["chain"]
    assert chain["end_signed"] and chain["complete_to_block"] == 120


def test_verify_of_a_version_1_export_passes_with_a_note_that_its_end_is_unsigned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text, err = run(capsys, "audit", "verify", str(GOLDEN_V1))
    assert code == 0, err
    end = next(line for line in text.splitlines() if line.strip().startswith("end "))
    assert "unsigned (format version 1)" in end and "cut after any checkpoint" in end
    code, text, _ = run(capsys, "audit", "verify", str(GOLDEN_V1), "--json")
    chain = json.loads(text)["chain"]
    assert not chain["end_signed"] and chain["complete_to_block"] is None


@pytest.mark.parametrize("end", ["unsigned", "forged"])
def test_verify_of_an_export_cut_short_fails_in_one_line(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], end: str
) -> None:
    out = tmp_path / "audit.jsonl"
    assert run(capsys, "audit", "export", "--db", str(db_file), "--out", str(out))[0] == 0
    lines = out.read_bytes().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if line.startswith(b'{"checkpoint":'))
    checkpoint = json.loads(lines[i])["checkpoint"]
    record = json.loads(lines[-1])["end"]
    if end == "unsigned":
        record = {"events": checkpoint["events"], "head": checkpoint["head"]}
    else:
        record.update(
            events=checkpoint["events"],
            head=checkpoint["head"],
            id=checkpoint["id"],
            checkpoints=checkpoint["seq"],
        )
    new_end = json.dumps({"end": record}, sort_keys=True, separators=(",", ":")).encode()
    out.write_bytes(b"".join(lines[: i + 1]) + new_end + b"\n")
    code, text, err = run(capsys, "audit", "verify", str(out))
    kind = {"unsigned": "unsigned", "forged": "bad-signature"}[end]
    assert code == 1 and text == "" and err.count("\n") == 1 and f"({kind})" in err
