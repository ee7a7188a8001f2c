"""`throne pull` in a subprocess: a miner's committed model, read from a real event log and
downloaded from the loopback Hub by `huggingface_hub`, and a named error for each way it fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.command import throne
from tests.support.contest import Driver, commitment_text, small_config
from tests.support.fake_hub import FakeHub, Fault
from throne.application import ThroneApplication

FILES = {
    "config.json": b'{"architectures": ["LlamaForCausalLM"]}',
    "model.safetensors": bytes(range(256)) * 1024,
    "tokenizer/tokenizer.json": b'{"version": "1.0"}',
}


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        yield fake


def log_with(tmp_path: Path, commitments: dict[str, str]) -> str:
    """A SQLite event log whose miners committed ``{hotkey: commitment text}``."""
    path = tmp_path / "throne.db"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    app = ThroneApplication(small_config(), env=env)
    d = Driver(app=app)
    for hotkey, text in commitments.items():
        d.chain.register(hotkey)
        d.chain.commit(hotkey, text)
    d.sync()
    app.close()
    return str(path)


def test_pull_downloads_the_committed_revision_into_a_folder_named_after_the_repo(
    hub: FakeHub, tmp_path: Path
) -> None:
    sha = hub.publish_files("org/affine-ann", FILES)
    hub.publish_files("org/affine-ann", {"config.json": b"a later push"})  # main moves on
    db = log_with(tmp_path, {"ann": commitment_text("ann", revision=sha)})
    done = throne("pull", "ann", "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"pulled org/affine-ann @ {sha}" in done.stdout
    for name, data in FILES.items():
        assert (tmp_path / "affine-ann" / name).read_bytes() == data


def test_pull_by_uid_into_a_given_folder_with_a_json_summary(hub: FakeHub, tmp_path: Path) -> None:
    sha = hub.publish_files("org/affine-bob", FILES)
    db = log_with(tmp_path, {"bob": commitment_text("bob", revision=sha)})
    done = throne("pull", "1", "--dir", "models/bob", "--db", db, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["hotkey"] == "bob" and summary["revision"] == sha
    assert summary["files"] == 3 and summary["bytes"] == sum(map(len, FILES.values()))
    assert Path(summary["dir"]) == (tmp_path / "models" / "bob").resolve()
    assert (tmp_path / "models" / "bob" / "model.safetensors").read_bytes() == FILES[
        "model.safetensors"
    ]


def test_pull_names_each_failure_and_exits_1(hub: FakeHub, tmp_path: Path) -> None:
    down = hub.publish_files("org/affine-down", FILES)
    hub.faults["org/affine-down"] = Fault(503)
    db = log_with(
        tmp_path,
        {
            "down": commitment_text("down", revision=down),
            "gone": commitment_text("gone", revision="c" * 40),
            "bad": "{not json",
        },
    )
    cases = {
        "nobody": "no miner with hotkey or uid 'nobody'",
        "bad": "miner bad has no readable commitment (invalid_json)",
        "down": "hub_unavailable: hub answered 503",
        "gone": "repo_not_visible: repo not found or private",
    }
    for who, said in cases.items():
        done = throne("pull", who, "--db", db, cwd=tmp_path)
        assert done.returncode == 1, (who, done.stdout, done.stderr)
        assert said in done.stderr, (who, done.stderr)
        assert "Traceback" not in done.stderr
    assert not any(tmp_path.glob("affine-*"))


def test_pull_help_says_what_it_reads_and_where_it_writes(tmp_path: Path) -> None:
    done = throne("pull", "--help", cwd=tmp_path)
    assert done.returncode == 0
    for words in ("HOTKEY|UID", "--dir", "HF_ENDPOINT", "HF_TOKEN", "snapshot_download"):
        assert words in done.stdout
