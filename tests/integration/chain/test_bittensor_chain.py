"""BittensorChain through the real bittensor 11 classes, with a fake node or a dead endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bittensor as bt
import pytest

from tests.integration.chain.chain_worlds import NETUID, FakeNodeWorld
from tests.support.ports import refusing_port
from throne.adapters.chain.bittensor_chain import BittensorChain, BittensorSettings
from throne.domain.queue.commitment import Rejection, parse_commitment
from throne.domain.queue.snapshot import Commitment
from throne.ports.chain import ChainTimeout, ChainUnavailable, WalletLocked


@pytest.fixture
def fake_world(tmp_path: Path) -> Iterator[FakeNodeWorld]:
    world = FakeNodeWorld(tmp_path / "data")
    yield world
    world.close()


def _raw(text: str) -> dict[str, str]:
    data = text.encode()
    return {f"Raw{len(data)}": "0x" + data.hex()}


def _scale_text(text: str) -> str:
    """A revealed payload as the node returns it: compact length prefix, then the bytes."""
    data = text.encode()
    assert len(data) < 64
    return "0x" + bytes([len(data) << 2]).hex() + data.hex()


def test_metagraph_commitments_keep_the_blocks_they_were_made_at(
    fake_world: FakeNodeWorld,
) -> None:
    node = fake_world.node
    for name in ("validator", "alice", "bob"):
        fake_world.register(name)
    alice, bob = fake_world.hotkey("alice"), fake_world.hotkey("bob")
    node.put_commitment(NETUID, bob, [_raw('{"model":"b",'), _raw('"revision":"1"}')], block=990)
    node.put_commitment(NETUID, alice, [_raw('{"model":"a","revision":"2"}')], block=995)
    snap = fake_world.chain_as("validator").snapshot(NETUID)
    assert snap.commitments == (
        Commitment(bob, 990, '{"model":"b","revision":"1"}', "plain"),
        Commitment(alice, 995, '{"model":"a","revision":"2"}', "plain"),
    )


def test_hostile_commitment_bytes_read_as_text_that_is_rejected_not_raised(
    fake_world: FakeNodeWorld,
) -> None:
    node = fake_world.node
    hostile = {
        "alice": [{"Raw3": "0xffc0fe"}],  # not UTF-8
        "bob": [{"Raw3": "0xeda080"}],  # a lone surrogate, as UTF-8 never writes it
        "carol": [{"Raw128": "0x" + (b"[" * 128).hex()}] * 8,  # a kilobyte of nesting
    }
    fake_world.register("validator")
    for block, (name, fields) in enumerate(hostile.items(), start=990):
        fake_world.register(name)
        node.put_commitment(NETUID, fake_world.hotkey(name), fields, block=block)
    snap = fake_world.chain_as("validator").snapshot(NETUID)
    assert len(snap.commitments) == 3
    assert {parse_commitment(c.text) for c in snap.commitments} == {Rejection("invalid_json")}


def test_timelocked_commitments_are_sealed_then_dated_by_their_reveal_block(
    fake_world: FakeNodeWorld,
) -> None:
    node = fake_world.node
    fake_world.register("validator")
    fake_world.register("alice")
    alice = fake_world.hotkey("alice")
    sealed = {"TimelockEncrypted": {"encrypted": "0x00", "reveal_round": 123}}
    node.put_commitment(NETUID, alice, [sealed], block=1001)
    chain = fake_world.chain_as("validator")
    assert chain.snapshot(NETUID).commitments == (Commitment(alice, 1001, "", "sealed"),)

    node.subnet(NETUID).revealed[alice] = [(_scale_text('{"model":"a"}'), 1002)]
    node.advance(1)
    node.put_commitment(NETUID, alice, [sealed], block=1001)  # remember the revealed state
    assert chain.snapshot(NETUID).commitments == (
        Commitment(alice, 1002, '{"model":"a"}', "revealed"),
    )


def test_recycled_uid_drops_the_old_hotkey_but_keeps_its_commitment(
    fake_world: FakeNodeWorld,
) -> None:
    fake_world.node.configure(NETUID, max_uids=2)
    fake_world.register("validator")
    fake_world.register("alice")
    fake_world.chain_as("alice").commit(NETUID, '{"model":"a","revision":"1"}')
    fake_world.register("bob")  # the subnet is full: uid 0, the oldest, is recycled
    snap = fake_world.chain_as("bob").snapshot(NETUID)
    assert snap.uid_of(fake_world.hotkey("validator")) is None
    assert snap.uid_of(fake_world.hotkey("bob")) == 0
    assert [c.hotkey for c in snap.commitments] == [fake_world.hotkey("alice")]


def test_the_u16s_recorded_are_the_ones_the_node_received(fake_world: FakeNodeWorld) -> None:
    for name in ("validator", "a", "b", "c"):
        fake_world.register(name)
    fake_world.node.configure(NETUID, max_weights_limit=32768)  # no uid may hold > ~50 %
    fake_world.advance(100)
    result = fake_world.chain_as("validator").set_weights(
        NETUID, {1: 0.9, 2: 0.05, 3: 0.05}, version_key=3
    )
    call, signer = fake_world.node.submitted[-1]
    assert result.ok
    assert signer == fake_world.hotkey("validator")
    assert call.params["version_key"] == 3
    assert tuple(zip(call.params["dests"], call.params["weights"], strict=True)) == result.sent
    # the SDK clipped uid 1 to the limit before scaling: the others are no longer tiny
    clipped = bt.intents.weights.clip_to_max_weight([0.9, 0.05, 0.05], 32768 / 65535)
    assert result.sent == tuple(zip(*bt.intents.normalize([1, 2, 3], clipped), strict=True))
    assert result.sent[1][1] > 65535 * 0.05 / 0.9 + 1


def test_a_rate_limit_the_chain_itself_reports_is_an_outcome_with_what_was_sent(
    fake_world: FakeNodeWorld,
) -> None:
    fake_world.register("validator")
    fake_world.register("alice")
    fake_world.advance(100)
    fake_world.node.fail_next = "SettingWeightsTooFast"  # another submission won the race
    result = fake_world.chain_as("validator").set_weights(NETUID, {1: 1.0}, version_key=0)
    assert (result.ok, result.error_code, result.sent) == (False, "rate_limited", ((1, 65535),))


def test_any_other_chain_error_is_reported_with_its_name(fake_world: FakeNodeWorld) -> None:
    fake_world.register("validator")
    fake_world.register("alice")
    fake_world.advance(100)
    fake_world.node.fail_next = "NotEnoughStakeToSetWeights"
    result = fake_world.chain_as("validator").set_weights(NETUID, {1: 1.0}, version_key=0)
    assert (result.ok, result.error_code) == (False, "chain_error")
    assert "NotEnoughStakeToSetWeights" in (result.error_message or "")


def test_connection_refused_is_a_retryable_unavailability(tmp_path: Path) -> None:
    with refusing_port() as port:
        url = f"ws://127.0.0.1:{port}"
        chain = BittensorChain(BittensorSettings(network=url, data_dir=tmp_path))
        try:
            with pytest.raises(ChainUnavailable) as exc:
                chain.current_block()
            assert exc.value.retryable
            assert url in str(exc.value)
        finally:
            chain.close()


@pytest.mark.parametrize("hangs_after_connecting", [False, True])
def test_a_hung_node_hits_the_call_deadline_and_the_next_call_can_succeed(
    fake_world: FakeNodeWorld, tmp_path: Path, hangs_after_connecting: bool
) -> None:
    settings = BittensorSettings(network="local", data_dir=tmp_path, read_deadline_s=0.2)
    chain = BittensorChain(settings, substrate=fake_world.node, signer=fake_world.keypair("v"))
    try:
        if hangs_after_connecting:
            assert chain.current_block() == fake_world.node.block
        fake_world.node.hung = True
        with pytest.raises(ChainTimeout) as exc:
            chain.snapshot(NETUID)
        assert exc.value.retryable
        fake_world.node.hung = False
        assert chain.current_block() == fake_world.node.block
    finally:
        chain.close()


def test_sdk_caches_are_written_into_the_data_directory(
    fake_world: FakeNodeWorld, tmp_path: Path
) -> None:
    data_dir = tmp_path / "validator-data"
    chain = BittensorChain(
        BittensorSettings(network="local", data_dir=data_dir),
        substrate=fake_world.node,
        signer=fake_world.keypair("v"),
    )
    try:
        chain.current_block()
    finally:
        chain.close()
    assert (data_dir / "bittensor" / "token_symbols.json").is_file()
    assert not (tmp_path / "home" / ".bittensor").exists()


def _wallet(path: Path, password: str | None) -> tuple[BittensorSettings, str]:
    wallet = bt.Wallet("val", "hk", path=str(path))
    wallet.create_new_hotkey(
        use_password=password is not None, hotkey_password=password, suppress=True
    )
    settings = BittensorSettings(
        wallet_name="val", wallet_hotkey="hk", wallet_path=path, data_dir=path / "data"
    )
    return settings, str(wallet.hotkeypub.ss58_address)


@pytest.fixture(scope="module")
def locked_wallet(tmp_path_factory: pytest.TempPathFactory) -> tuple[BittensorSettings, str]:
    """An encrypted hotkey, made once: its key derivation takes seconds."""
    return _wallet(tmp_path_factory.mktemp("wallets"), password="s3cret-pass")


def test_a_plain_hotkey_is_read_from_the_wallet_path(tmp_path: Path) -> None:
    settings, address = _wallet(tmp_path, password=None)
    assert BittensorChain(settings).signer_hotkey == address


def test_an_encrypted_hotkey_without_a_password_is_refused_not_prompted(
    locked_wallet: tuple[BittensorSettings, str],
) -> None:
    settings, _ = locked_wallet
    with pytest.raises(WalletLocked, match="BT_WALLET_PASSWORD"):
        _ = BittensorChain(settings).signer_hotkey


def test_an_encrypted_hotkey_unlocks_with_the_password_from_the_environment(
    locked_wallet: tuple[BittensorSettings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, address = locked_wallet
    monkeypatch.setenv("BT_WALLET_PASSWORD", "s3cret-pass")
    assert BittensorChain(settings).signer_hotkey == address


def test_a_missing_hotkey_file_is_named_in_the_error(tmp_path: Path) -> None:
    settings = BittensorSettings(wallet_path=tmp_path / "nowhere", data_dir=tmp_path)
    with pytest.raises(WalletLocked, match="no hotkey file"):
        _ = BittensorChain(settings).signer_hotkey
