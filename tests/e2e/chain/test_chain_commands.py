"""`throne localnet`, `throne commit` and `throne weights --onchain` on the embedded chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.ports import refusing_port
from throne.adapters.chain.local import LocalChain
from throne.cli.main import main

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "chain.db")
    assert main(["localnet", "init", "--chain-db", path, "--clock", "manual"]) == 0
    return path


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(argv) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


@pytest.mark.parametrize("sub", ["init", "register", "advance", "commit", "show"])
def test_every_localnet_subcommand_takes_a_chain_db(
    sub: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["localnet", sub, "--help"])
    assert "--chain-db PATH" in capsys.readouterr().out


def test_localnet_show_json_lists_block_neurons_and_commitments(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["localnet", "register", "--chain-db", db, "--hotkey", "alice"]) == 0
    assert main(["localnet", "register", "--chain-db", db, "--hotkey", "bob"]) == 0
    assert main(["localnet", "advance", "--chain-db", db, "--blocks", "9"]) == 0
    assert (
        main(["localnet", "commit", "--chain-db", db, "--hotkey", "bob", "--text", "{not json"])
        == 0
    )
    shown = _json(capsys, ["localnet", "show", "--chain-db", db, "--json"])
    assert shown == {
        "block": 10,
        "neurons": [{"uid": 0, "hotkey": "alice"}, {"uid": 1, "hotkey": "bob"}],
        "commitments": [{"hotkey": "bob", "block": 10, "text": "{not json"}],
    }


def test_localnet_commit_of_a_repo_writes_the_model_and_revision_as_json(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["localnet", "register", "--chain-db", db, "--hotkey", "alice"])
    argv = ["localnet", "commit", "--chain-db", db, "--hotkey", "alice"]
    assert main([*argv, "--repo", "alice/m", "--revision", SHA]) == 0
    shown = _json(capsys, ["localnet", "show", "--chain-db", db, "--json"])
    (commitment,) = shown["commitments"]  # type: ignore[misc]
    assert json.loads(commitment["text"]) == {"model": "alice/m", "revision": SHA}


def test_localnet_refuses_a_commit_from_an_unregistered_hotkey_in_one_line(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["localnet", "commit", "--chain-db", db, "--hotkey", "ghost", "--text", "x"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not registered" in err


def test_miner_commit_warns_that_a_second_commit_invalidates_the_hotkey(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["localnet", "register", "--chain-db", db, "--hotkey", "alice"])
    argv = ["commit", "--chain-db", db, "--hotkey", "alice", "--repo", "alice/m"]
    assert main([*argv, "--revision", SHA]) == 0
    first = capsys.readouterr()
    assert "second commitment" in first.err and "invalidates" in first.err

    other = "f" * 40
    assert main([*argv, "--revision", other]) == 1
    assert "--replace" in capsys.readouterr().err
    assert json.loads(LocalChain(db).snapshot(120).commitments[0].text)["revision"] == SHA

    assert main([*argv, "--revision", other, "--replace"]) == 0
    assert json.loads(LocalChain(db).snapshot(120).commitments[0].text)["revision"] == other


@pytest.mark.parametrize(
    ("repo", "revision"), [("alice/m", "main"), ("alice/m", SHA.upper()), ("no-slash", SHA)]
)
def test_miner_commit_rejects_a_malformed_repo_or_revision(
    db: str, repo: str, revision: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["commit", "--chain-db", db, "--hotkey", "a", "--repo", repo, "--revision", revision]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("throne: error: --re")


def test_weights_onchain_shows_the_validators_row_with_shares(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = LocalChain(db)
    for hotkey in ("val", "champ", "other"):
        chain.register(120, hotkey)
    chain.advance(100)
    assert chain.as_signer("val").set_weights(120, {0: 0.25, 1: 0.75}, 0).ok
    by_hotkey = _json(
        capsys, ["weights", "--onchain", "--chain-db", db, "--hotkey", "val", "--json"]
    )
    by_uid = _json(capsys, ["weights", "--onchain", "--chain-db", db, "--uid", "0", "--json"])
    assert by_hotkey == by_uid
    assert by_uid["validator_hotkey"] == "val"
    assert by_uid["weights"] == [
        {"uid": 0, "hotkey": "val", "weight": 21845, "share": 21845 / (21845 + 65535)},
        {"uid": 1, "hotkey": "champ", "weight": 65535, "share": 65535 / (21845 + 65535)},
    ]


def test_weights_without_onchain_read_the_event_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["weights", "--db", str(tmp_path / "none.db")]) == 1
    assert "no event log at" in capsys.readouterr().err


def test_an_unknown_chain_name_is_a_one_line_error(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["weights", "--onchain", "--chain", "mainnet", "--uid", "0"]) == 1
    assert "unknown chain 'mainnet'" in capsys.readouterr().err


def test_an_unreachable_node_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with refusing_port() as port:
        url = f"ws://127.0.0.1:{port}"
        argv = ["weights", "--onchain", "--chain", url, "--uid", "0", "--data-dir", str(tmp_path)]
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach" in err


def test_committing_on_a_network_without_a_wallet_names_the_missing_hotkey_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with refusing_port() as port:
        argv = ["commit", "--chain", f"ws://127.0.0.1:{port}", "--repo", "a/b", "--revision", SHA]
        argv += ["--wallet-path", str(tmp_path / "wallets"), "--data-dir", str(tmp_path)]
        assert main(argv) == 1
    assert "no hotkey file" in capsys.readouterr().err


def test_chain_show_reads_the_local_chain_like_localnet_show(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["localnet", "register", "--chain-db", db, "--hotkey", "alice"])
    main(["localnet", "commit", "--chain-db", db, "--hotkey", "alice", "--text", "hi"])
    local = _json(capsys, ["localnet", "show", "--chain-db", db, "--json"])
    assert _json(capsys, ["chain", "show", "--chain-db", db, "--json"]) == local
