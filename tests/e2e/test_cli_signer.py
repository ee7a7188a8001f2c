"""`throne signer` and `throne check` from the command line: what an operator gets wrong is one
line and exit 1, before any socket exists; on a Bittensor network the wallet's hotkey is held;
`throne check` says whether the daemon's signer answers."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemon.cluster import make_world
from tests.support.command import throne
from tests.support.signer import SignerProcess, write_token
from throne.adapters.chain.local import LocalChain
from throne.adapters.signer.client import SignerClient
from throne.audit.format import checkpoint_message
from throne.audit.signing import signature_is_valid
from throne.cli.main import main

SECRET = bytes(range(32))


@pytest.fixture
def chain_dir(tmp_path: Path) -> Path:
    # where the signer looks for it by default: .throne/chain.db
    LocalChain.init(tmp_path / ".throne" / "chain.db", clock_mode="manual").register(
        120, "validator"
    )
    write_token(tmp_path / "token")
    return tmp_path


def one_line_error(done: Any) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("throne: error: "), done.stderr
    return str(lines[0])


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_token_file_others_may_read_stops_the_signer_naming_the_file_and_the_fix(
    chain_dir: Path, mode: int
) -> None:
    (chain_dir / "token").chmod(mode)
    done = throne("signer", "--token-file", "token", "--socket", "s.sock", cwd=chain_dir)
    line = one_line_error(done)
    assert "token" in line and "chmod 600 token" in line
    assert not (chain_dir / "s.sock").exists()


def test_a_missing_or_short_token_is_one_line(chain_dir: Path) -> None:
    done = throne("signer", "--token-file", "nothing", "--socket", "s.sock", cwd=chain_dir)
    assert "cannot read the token file nothing" in one_line_error(done)
    write_token(chain_dir / "short")
    (chain_dir / "short").write_text("abc\n")
    done = throne("signer", "--token-file", "short", "--socket", "s.sock", cwd=chain_dir)
    assert "at least 16 characters" in one_line_error(done)


def test_off_loopback_the_signer_listens_only_when_told_to(chain_dir: Path) -> None:
    done = throne(
        "signer", "--token-file", "token", "--host", "0.0.0.0", "--port", "9", cwd=chain_dir
    )
    line = one_line_error(done)
    assert "not a loopback address" in line and "--allow-remote" in line
    done = throne(
        "signer", "--token-file", "token", "--socket", "s.sock", "--host", "::1", cwd=chain_dir
    )
    assert "--host and --allow-remote go with --port" in one_line_error(done)


def test_a_socket_path_held_by_a_file_or_a_live_signer_is_refused(chain_dir: Path) -> None:
    (chain_dir / "taken").write_text("not a socket")
    done = throne("signer", "--token-file", "token", "--socket", "taken", cwd=chain_dir)
    assert "exists and is not a socket" in one_line_error(done)
    sock = chain_dir / "s.sock"
    (chain_dir / "key").write_text("//Alice\n")
    args = ["--token-file", "token", "--socket", str(sock), "--key", "key"]
    with SignerProcess(args, cwd=chain_dir, log=chain_dir / "first.log", socket_path=sock):
        done = throne("signer", *args, cwd=chain_dir)
        assert "another process already serves" in one_line_error(done)
    # stopped, it removes its socket
    assert not sock.exists()


def test_a_stale_socket_of_a_signer_that_died_is_replaced(chain_dir: Path) -> None:
    sock = chain_dir / "s.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(sock))  # bound, never listening: what a killed signer leaves
    (chain_dir / "key").write_text("//Alice\n")
    args = ["--token-file", "token", "--socket", str(sock), "--key", "key"]
    with SignerProcess(args, cwd=chain_dir, log=chain_dir / "s.log", socket_path=sock):
        assert sock.stat().st_mode & 0o777 == 0o660


def _wallet(root: Path) -> str:
    import bittensor as bt

    wallet = bt.Wallet(name="val", hotkey="hk", path=str(root / "wallets"))
    wallet.create_new_coldkey(use_password=False, suppress=True)
    wallet.create_new_hotkey(use_password=False, suppress=True)
    return str(wallet.hotkey.ss58_address)


def test_on_a_bittensor_network_the_signer_holds_the_wallets_hotkey_for_both_uses(
    tmp_path: Path,
) -> None:
    hotkey = _wallet(tmp_path)
    write_token(tmp_path / "token")
    sock = tmp_path / "s.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THRONE_", "BT_"))}
    env["HOME"] = str(tmp_path / "home")
    network = ["--chain", "test", "--wallet-path", str(tmp_path / "wallets"), "--data-dir", "d"]
    wallet = ["--wallet-name", "val", "--wallet-hotkey", "hk"]
    args = ["--token-file", "token", "--socket", str(sock), *network, *wallet]
    with SignerProcess(args, cwd=tmp_path, log=tmp_path / "s.log", socket_path=sock, env=env):
        client = SignerClient(f"unix://{sock}", (tmp_path / "token").read_text().strip())
        try:
            health = client.health()
            message = checkpoint_message(1, 1, "00" * 32, 1)
            signature = client.sign(message)
        finally:
            client.close()
    assert (health.hotkey, health.checkpoint_signer, health.chain) == (hotkey, hotkey, "test")
    assert signature_is_valid(message, signature, hotkey)
    done = throne("signer", *args, "--key", "token", cwd=tmp_path)
    assert "--key is for the local chain" in one_line_error(done)
    args[args.index("hk")] = "missing"
    done = throne("signer", *args, cwd=tmp_path)
    assert "no hotkey file" in one_line_error(done)


def check(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, dict[str, Any]]:
    code = main(["check", "--config", str(config), "--offline", "--json"])
    report = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in report["checks"]}


def test_check_reports_whether_the_daemons_signer_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = tmp_path / "w" / "signer.sock"
    world = make_world(
        tmp_path / "w",
        "http://127.0.0.1:9/v1",
        SECRET,
        validator={
            "signer_url": f"unix://{sock}",
            "signer_token_file": str(tmp_path / "w" / "daemon-token"),
        },
    )
    token = write_token(world.root / "token")
    (world.root / "daemon-token").write_text(token)
    (world.root / "daemon-token").chmod(0o600)
    (world.root / "key").write_text("//Alice\n")
    (world.root / "secret").chmod(0o600)
    code, checks = check(capsys, world.config)
    assert code == 1 and checks["signer"]["status"] == "fail"
    assert "cannot reach the signer" in checks["signer"]["detail"]
    assert checks["chain"]["status"] == "warn"  # the chain answers; the hotkey is the signer's
    args = ["--config", str(world.config), "--token-file", "token", "--socket", str(sock)]
    with SignerProcess(
        [*args, "--key", "key"], cwd=world.root, log=world.root / "s.log", socket_path=sock
    ):
        code, checks = check(capsys, world.config)
        assert code == 0, checks
        assert checks["signer"]["status"] == "ok"
        assert "holds the hotkey validator" in checks["signer"]["detail"]
        assert checks["chain"]["status"] == "ok" and "is uid 0" in checks["chain"]["detail"]
        (world.root / "daemon-token").write_text("a-token-the-signer-does-not-know")
        code, checks = check(capsys, world.config)
        assert code == 1 and "refused the token" in checks["signer"]["detail"]
        (world.root / "daemon-token").chmod(0o644)
        code, checks = check(capsys, world.config)
        assert code == 1 and "chmod 600" in checks["signer"]["detail"]
