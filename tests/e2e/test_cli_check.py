"""`throne check`: every part the daemon needs, tried as configured, without writing anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon.cluster import make_world
from tests.integration.storage.test_log_identity import foreign_file
from tests.integration.storage.test_log_integrity import (
    damage_an_old_page_of_the_events,
    played_log,
)
from tests.support.fake_hub import FakeHub
from throne.cli.main import main

SECRET = bytes(range(32))


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["check", *argv, "--json"])
    report = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in report["checks"]}


def test_a_ready_validator_passes_every_check_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    (world.root / "secret").chmod(0o600)
    before = sorted(p.name for p in world.root.iterdir())
    code, checks = check(capsys, "--config", str(world.config), "--offline")
    assert code == 0, checks
    assert checks["chain"]["status"] == "ok" and "is uid 0" in checks["chain"]["detail"]
    assert checks["pool secret"]["status"] == "ok"
    assert checks["sandbox"]["status"] == "ok"
    assert checks["inference"]["status"] == "ok" and "route" in checks["inference"]["detail"]
    # the log does not exist yet: `throne run` creates it, `throne check` does not
    assert checks["event log"]["status"] == "warn"
    assert sorted(p.name for p in world.root.iterdir()) == before


def test_an_unregistered_validator_is_a_warning_a_missing_chain_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    text = world.config.read_text().replace('hotkey = "validator"', 'hotkey = "newcomer"')
    world.config.write_text(text)
    code, checks = check(capsys, "--config", str(world.config), "--offline")
    assert code == 0 and checks["chain"]["status"] == "warn"
    assert "newcomer is not registered" in checks["chain"]["detail"]
    (world.root / "chain.db").unlink()
    code, checks = check(capsys, "--config", str(world.config), "--offline")
    assert code == 1 and checks["chain"]["status"] == "fail"
    assert "throne localnet init" in checks["chain"]["detail"]


def test_a_bad_secret_a_junk_log_and_no_way_to_the_miners_each_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    (world.root / "secret").write_bytes(b"short")
    (world.root / "throne.db").write_text("not a database\n" * 100)
    raw = world.config.read_text()
    world.config.write_text(raw[: raw.index("[inference")])
    code, checks = check(capsys, "--config", str(world.config), "--offline")
    assert code == 1
    assert (
        checks["pool secret"]["status"] == "fail" and "5 bytes" in checks["pool secret"]["detail"]
    )
    assert checks["event log"]["status"] == "fail"
    assert checks["inference"]["status"] == "fail" and "unservable" in checks["inference"]["detail"]


def test_a_readable_secret_is_a_warning_and_the_table_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    (world.root / "secret").chmod(0o644)
    assert main(["check", "--config", str(world.config), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "warn  pool secret" in out and "chmod 600" in out


def test_an_unreachable_gateway_fails_when_tried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    raw = world.config.read_text()
    world.config.write_text(
        raw[: raw.index("[inference")] + '[inference]\ngateway = "http://127.0.0.1:9/v1"\n'
    )
    code, checks = check(capsys, "--config", str(world.config))
    assert code == 1 and checks["inference"]["status"] == "fail"
    assert checks["model hub"]["status"] == "ok"  # none on the local chain
    code, checks = check(capsys, "--config", str(world.config), "--offline")
    assert code == 0 and "not tried" in checks["inference"]["detail"]
    assert "model hub" not in checks


def test_the_model_hub_is_tried_when_it_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    base = world.config.read_text()
    with FakeHub() as hub:
        for endpoint, status in ((hub.url, "ok"), ("http://127.0.0.1:9", "warn")):
            world.config.write_text(
                base + f'[model_hub]\nkind = "huggingface"\nendpoint = "{endpoint}"\n'
            )
            _, checks = check(capsys, "--config", str(world.config))
            assert checks["model hub"]["status"] == status, checks["model hub"]
        assert checks["model hub"]["detail"].startswith("http://127.0.0.1:9 unreachable (")
    assert [(s.path, s.query, s.authorization) for s in hub.seen] == [
        ("/api/models", "limit=1", None)
    ]


def test_the_model_hub_check_follows_hf_endpoint_and_sends_hf_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    world.config.write_text(world.config.read_text() + '[model_hub]\nkind = "huggingface"\n')
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_secret")
        _, checks = check(capsys, "--config", str(world.config))
        assert checks["model hub"] == {
            "name": "model hub",
            "status": "ok",
            "detail": f"{hub.url} reachable with a token",
        }
    assert [s.authorization for s in hub.seen] == ["Bearer hf_secret"]
    monkeypatch.setenv("HF_ENDPOINT", "hub.example")
    _, checks = check(capsys, "--config", str(world.config))
    assert checks["model hub"]["status"] == "fail"
    assert "HF_ENDPOINT must be an http(s):// URL" in checks["model hub"]["detail"]


def test_a_foreign_file_and_a_damaged_log_fail_the_check_and_stay_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)
    (world.root / "secret").chmod(0o600)
    foreign = foreign_file(tmp_path / "shop.db")
    damaged = played_log(tmp_path / "damaged.db")
    damage_an_old_page_of_the_events(damaged)
    for path, said in ((foreign, "is not a throne log"), (damaged, "is damaged")):
        before = path.read_bytes()
        code, checks = check(capsys, "--config", str(world.config), "--offline", "--db", str(path))
        assert code == 1, checks
        assert checks["event log"]["status"] == "fail" and said in checks["event log"]["detail"]
        assert path.read_bytes() == before
    healthy = played_log(tmp_path / "healthy.db")
    code, checks = check(capsys, "--config", str(world.config), "--offline", "--db", str(healthy))
    assert checks["event log"]["status"] == "ok", checks
