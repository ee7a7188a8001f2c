"""`throne run` with ``signer_url``: the weights go through `throne signer`, and the daemon never
opens the wallet. Run as ``nobody``, the wallet out of its reach, it still sets them; a signer
that is down is tried again until it is up; one that answers late holds up the weights and
nothing else (the contest keeps sampling)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.e2e.daemon.cluster import (
    NETUID,
    World,
    make_world,
    samples_recorded,
    start_daemon,
    stop,
    wait_until,
)
from tests.support.command import THRONE
from tests.support.held_proxy import HeldProxy
from tests.support.signer import SignerProcess, write_token
from tests.support.unprivileged import NOBODY, NobodyPlace, why_not
from throne.adapters.chain.local import LocalChain

SECRET = bytes(range(32))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def signer_world(
    root: Path, miners: str, url_socket: Path, validator: Mapping[str, object] | None = None
) -> World:
    """A world whose daemon reaches its signer at ``url_socket``, with the token in
    ``daemon-token``; the signer's copy is ``signer-token``, its checkpoint key ``key``."""
    world = make_world(
        root,
        miners,
        SECRET,
        validator={
            "signer_url": f"unix://{url_socket}",
            "signer_token_file": str(root / "daemon-token"),
            **(validator or {}),
        },
    )
    token = write_token(root / "signer-token")
    (root / "daemon-token").write_text(token + "\n")
    (root / "daemon-token").chmod(0o600)
    (root / "key").write_text("//Validator\n")
    return world


def signer_for(world: World, sock: Path) -> SignerProcess:
    args = ["--config", str(world.config), "--socket", str(sock)]
    args += ["--token-file", str(world.root / "signer-token"), "--key", str(world.root / "key")]
    return SignerProcess(args, cwd=world.root, log=world.root / "signer.log", socket_path=sock)


def chain_row(world: World) -> list[list[int]]:
    weights = LocalChain(world.root / "chain.db").onchain_weights(NETUID, 0).weights
    return [list(pair) for pair in weights]


def landed(world: World) -> bool:
    """The validator's weights are on chain, and the log records that submission as landed."""
    row = chain_row(world)
    with world.app() as app:
        last = app.last_landed_weights()
    return bool(row) and last is not None and last["u16"] == row


def tail(path: Path) -> str:
    return path.read_text()[-4000:] if path.exists() else ""


def test_a_signer_that_is_down_is_tried_again_until_it_is_up_and_the_weights_land(
    tmp_path: Path, miners: str
) -> None:
    sock = tmp_path / "w" / "signer.sock"
    world = signer_world(tmp_path / "w", miners, sock)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(world, log)
    try:
        assert wait_until(lambda: "cannot reach the signer" in log.read_text(), 90), tail(log)
        assert wait_until(lambda: samples_recorded(world.db_url) > 0, 90), tail(log)
        assert chain_row(world) == [] and not landed(world)
        with signer_for(world, sock) as signer:
            assert wait_until(lambda: landed(world), 120), tail(log) + tail(signer.log)
            outcomes = [(r["path"], r["outcome"]) for r in signer.requests()]
        assert ("/set_weights", "landed") in outcomes
    finally:
        code = stop(daemon)
    assert code == 0, tail(log)


def test_a_signer_that_answers_late_holds_up_the_weights_and_not_the_contest(
    tmp_path: Path, miners: str
) -> None:
    root = tmp_path / "w"
    sock, late_sock = root / "signer.sock", root / "late.sock"
    world = signer_world(root, miners, late_sock, {"signer_timeout_seconds": 60.0})
    log = tmp_path / "daemon.log"
    with signer_for(world, sock) as signer, HeldProxy(late_sock, sock) as late:
        daemon = start_daemon(world, log)
        try:
            assert wait_until(lambda: late.held > 0, 90), tail(log)
            before = samples_recorded(world.db_url)
            # the daemon waits for an answer, and samples meanwhile
            assert wait_until(lambda: samples_recorded(world.db_url) >= before + 10, 120), tail(log)
            assert signer.requests() == [] and chain_row(world) == []
            late.release()
            assert wait_until(lambda: landed(world), 120), tail(log) + tail(signer.log)
        finally:
            code = stop(daemon)
    assert code == 0, tail(log)


@pytest.fixture
def place() -> Iterator[NobodyPlace]:
    reason = why_not()
    if reason is not None:
        if IN_CI:
            pytest.fail(reason + " (CI never skips the unprivileged daemon)")
        pytest.skip(reason)
    made = NobodyPlace()
    try:
        yield made
    finally:
        made.remove()


def test_run_as_nobody_the_daemon_sets_weights_through_the_signer_and_cannot_read_the_wallet(
    place: NobodyPlace, miners: str
) -> None:
    root, run, wallet = place.root / "w", place.root / "run", place.root / "wallet"
    run.mkdir(mode=0o755)
    sock = run / "signer.sock"
    # The hotkey's material lives in a wallet directory only root may enter; the daemon is
    # told where it is, and must not need it.
    wallet.mkdir(mode=0o700)
    world = signer_world(root, miners, sock, {"wallet_path": str(wallet)})
    (root / "key").rename(wallet / "validator-key")
    (wallet / "validator-key").chmod(0o600)
    (root / "signer-token").rename(place.root / "signer-token")
    (root / "home").mkdir()
    place.chown_to_nobody(root)  # the daemon's own files: its log, chain reads, its token
    env = place.env(root / "home")

    probe = subprocess.run(
        place.command(["-c", f"open({str(wallet / 'validator-key')!r}).read()"]),
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr

    args = ["--config", str(world.config), "--socket", str(sock), "--key"]
    args += [str(wallet / "validator-key"), "--token-file", str(place.root / "signer-token")]
    # root, in the daemon's group: the socket (mode 660) is the group's
    as_group = ["setpriv", f"--regid={NOBODY}", "--clear-groups"]
    log = place.root / "daemon.log"
    signer_log = place.root / "signer.log"
    with SignerProcess(
        args, cwd=place.root, log=signer_log, socket_path=sock, prefix=as_group
    ) as signer:
        daemon = subprocess.Popen(
            place.command(["-c", THRONE, "run", "--config", str(world.config)]),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
        )
        try:
            # unshare, sh and setpriv each exec the next: the daemon is this process
            assert wait_until(lambda: "daemon_started" in log.read_text(), 90), tail(log)
            assert os.stat(f"/proc/{daemon.pid}").st_uid == NOBODY
            assert wait_until(lambda: landed(world), 150), tail(log) + tail(signer_log)
        finally:
            code = stop(daemon)
        landed_lines = [r for r in signer.requests() if r["outcome"] == "landed"]
    assert code == 0, tail(log)
    assert landed_lines and all(r["client"] == "unix" for r in landed_lines)
