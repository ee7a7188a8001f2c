"""`throne publish` and `throne audit verify s3://...` as a user runs them, against moto's S3
server on loopback: exit codes, what is printed, one-line errors and no tracebacks."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.support.played import played_database
from tests.support.ports import refusing_port
from tests.support.s3 import S3Server
from throne.cli.main import main


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: None) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("THRONE_DB", raising=False)


@pytest.fixture
def db(tmp_path: Path) -> str:
    played_database(tmp_path / "log.db")
    return f"sqlite:///{tmp_path / 'log.db'}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def publish(
    capsys: pytest.CaptureFixture[str], s3: S3Server, to: str, db: str, *more: str
) -> tuple[int, str, str]:
    return run(
        capsys,
        "publish",
        "--to",
        to,
        "--db",
        db,
        "--endpoint-url",
        s3.url,
        "--part-ids",
        "15",
        "--checkpoint-every",
        "10",
        *more,
    )


def test_publish_then_verify_then_again_only_what_is_new(
    s3: S3Server, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    to = f"s3://{s3.new_bucket()}/validator"
    code, out, err = publish(capsys, s3, to, db)
    assert code == 0, err
    assert f"published 4 new parts to {to}/: 4 parts, 49 events, complete to block 120" in out
    signer = out.rsplit(" ", 1)[-1].strip()
    code, out, err = run(
        capsys, "audit", "verify", to, "--endpoint-url", s3.url, "--signer", signer
    )
    assert code == 0, err
    assert "audit verify: OK" in out and "4 of 4 downloaded and checked" in out
    assert "verdicts recomputed        2, all match" in out
    code, out, _ = publish(capsys, s3, to, db)
    assert code == 0 and f"{to}/ is up to date: 4 parts, 49 events" in out
    code, out, _ = run(capsys, "audit", "verify", to, "--endpoint-url", s3.url, "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["checked"] == [] and not report["replayed"]


def test_the_endpoint_and_keys_come_from_the_aws_variables(
    s3: S3Server,
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.url)
    to = f"s3://{s3.new_bucket()}/v"
    code, out, err = run(capsys, "publish", "--to", to, "--db", db, "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["parts"] == 1 and done["events"] == 49 and done["conditional_writes"]
    code, out, _ = run(
        capsys, "audit", "verify", to, "--json", "--state", str(tmp_path / "state.json")
    )
    assert code == 0 and json.loads(out)["verdicts_checked"] == 2


def test_a_tampered_part_fails_the_verification_with_its_kind(
    s3: S3Server, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = s3.new_bucket()
    to = f"s3://{bucket}/validator"
    assert publish(capsys, s3, to, db)[0] == 0
    client = s3.client()
    index = json.loads(client.get_object(Bucket=bucket, Key="validator/index.json")["Body"].read())
    key = "validator/" + index["parts"][1]["key"]
    plain = gzip.decompress(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(plain.replace(b"1.0", b"0.9")))
    code, out, err = run(capsys, "audit", "verify", to, "--endpoint-url", s3.url, "--json")
    assert code == 1 and json.loads(out)["kind"] == "part-mismatch"
    assert "throne: audit failed (part-mismatch): part 2 (parts/000002-" in err


@pytest.mark.parametrize("case", ["no bucket", "keys refused", "endpoint down", "not s3"])
def test_a_publish_that_cannot_be_done_is_one_line(
    case: str, s3: S3Server, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with refusing_port() as port:
        if case == "no bucket":
            code, _, err = publish(capsys, s3, "s3://no-such-bucket/v", db)
            assert "cannot publish to s3://no-such-bucket/v/: there is no bucket" in err
        elif case == "keys refused":
            bucket = s3.new_bucket()
            with s3.enforcing_credentials():
                code, _, err = publish(capsys, s3, f"s3://{bucket}/v", db)
            assert "the store refused the credentials" in err and "InvalidAccessKeyId" in err
        elif case == "endpoint down":
            code, _, err = run(
                capsys,
                "publish",
                "--to",
                "s3://b/v",
                "--db",
                db,
                "--endpoint-url",
                f"http://127.0.0.1:{port}",
            )
            assert f"cannot reach the store at http://127.0.0.1:{port}" in err
        else:
            code, _, err = run(capsys, "publish", "--to", "bucket/v", "--db", db)
            assert "--to: not an s3://BUCKET/PREFIX URL" in err
    assert code == 1 and err.startswith("throne: error: ") and err.count("\n") == 1


def test_verify_refuses_options_that_do_not_go_with_its_source(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "audit", "verify", "s3://b/v", "--db", db)
    assert code == 1 and "--db cannot be used with a published log" in err
    code, _, err = run(capsys, "audit", "verify", str(tmp_path / "x.jsonl"), "--full")
    assert code == 1 and "--full go with a published log" in err


def test_the_help_says_what_an_incremental_verification_covers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "s3://BUCKET/PREFIX" in text and "index.json" in text
    assert "only the parts published since are downloaded" in text
    assert "not the contest's decisions (run --full for those)" in text
    with pytest.raises(SystemExit):
        main(["publish", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "immutable parts" in text and "AWS_ACCESS_KEY_ID" in text and "--every-blocks" in text
