"""The `Chain` contract: every adapter (LocalChain, BittensorChain over the fake node, and either
behind a signer as `SignerChain`) passes it; a chain behind the signer publishes no commitment."""

from __future__ import annotations

import pytest

from tests.integration.chain.chain_worlds import NETUID, World
from throne.adapters.chain.commitment import commitment_text
from throne.domain.queue.snapshot import Commitment, Neuron
from throne.ports.chain import ChainRefused

SHA = "0123456789abcdef0123456789abcdef01234567"


#: The commitment tests run on the worlds that commit: a validator's chain behind a signer
#: publishes no commitment (its tests say so), so they are not generated for it.
committing = pytest.mark.parametrize("world", ["local", "bittensor"], indirect=True)


def test_snapshot_lists_registered_neurons_by_uid(world: World) -> None:
    for name in ("validator", "alice", "bob"):
        world.register(name)
    snap = world.chain_as("validator").snapshot(NETUID)
    assert snap.neurons == (
        Neuron(0, world.hotkey("validator")),
        Neuron(1, world.hotkey("alice")),
        Neuron(2, world.hotkey("bob")),
    )
    assert snap.uid_of(world.hotkey("bob")) == 2


def test_current_block_moves_forward_when_the_chain_advances(world: World) -> None:
    chain = world.chain_as("validator")
    before = chain.current_block()
    world.advance(5)
    assert chain.current_block() == before + 5


@committing
def test_commitment_is_seen_with_the_block_it_was_included_at(world: World) -> None:
    world.register("validator")
    world.register("alice")
    world.advance(3)
    text = commitment_text("alice/model", SHA)
    receipt = world.chain_as("alice").commit(NETUID, text)
    snap = world.chain_as("validator").snapshot(NETUID)
    assert receipt.hotkey == world.hotkey("alice")
    assert receipt.block <= snap.block
    assert snap.commitments == (Commitment(world.hotkey("alice"), receipt.block, text, "plain"),)


@committing
def test_commitment_longer_than_one_field_reads_back_whole(world: World) -> None:
    world.register("alice")
    text = commitment_text("alice/" + "ü" * 90, SHA)  # > 128 bytes, a character on the cut
    assert len(text.encode()) > 128
    world.chain_as("alice").commit(NETUID, text)
    (found,) = world.chain_as("alice").snapshot(NETUID).commitments
    assert found.text == text


@committing
def test_second_commitment_replaces_the_first_with_a_later_block(world: World) -> None:
    world.register("alice")
    alice = world.chain_as("alice")
    first = alice.commit(NETUID, commitment_text("alice/a", SHA))
    world.advance(2)
    second = alice.commit(NETUID, commitment_text("alice/b", SHA))
    (found,) = alice.snapshot(NETUID).commitments
    assert second.block > first.block
    assert (found.block, found.text) == (second.block, commitment_text("alice/b", SHA))


def test_unregistered_hotkey_cannot_commit(world: World) -> None:
    world.register("validator")
    with pytest.raises(ChainRefused):
        world.chain_as("stranger").commit(NETUID, commitment_text("x/y", SHA))
    assert world.chain_as("validator").snapshot(NETUID).commitments == ()


def _validator_with_miners(world: World, miners: int = 3) -> None:
    world.register("validator")
    for i in range(miners):
        world.register(f"miner{i}")


def test_new_validator_waits_out_one_rate_limit_window(world: World) -> None:
    _validator_with_miners(world)
    chain = world.chain_as("validator")
    wait = chain.blocks_until_weights_allowed(NETUID, 0)
    assert 0 < wait <= 100
    world.advance(wait)
    assert chain.blocks_until_weights_allowed(NETUID, 0) == 0


def test_rate_limit_of_an_unknown_uid_is_refused(world: World) -> None:
    _validator_with_miners(world)
    with pytest.raises(ChainRefused):
        world.chain_as("validator").blocks_until_weights_allowed(NETUID, 99)


def test_weights_are_sent_as_bittensor_u16s_and_read_back_from_chain(world: World) -> None:
    _validator_with_miners(world)
    world.advance(100)
    chain = world.chain_as("validator")
    result = chain.set_weights(NETUID, {1: 0.5, 2: 0.3, 3: 0.2}, version_key=0)
    assert result.ok, result
    assert result.intended == ((1, 0.5), (2, 0.3), (3, 0.2))
    assert result.sent == ((1, 65535), (2, 39321), (3, 26214))
    assert result.extrinsic_id
    assert chain.onchain_weights(NETUID, 0).weights == result.sent


def test_zero_weights_are_dropped_from_the_vector_sent(world: World) -> None:
    _validator_with_miners(world)
    world.advance(100)
    chain = world.chain_as("validator")
    result = chain.set_weights(NETUID, {0: 0.0, 1: 1.0}, version_key=0)
    assert result.ok
    assert result.sent == ((1, 65535),)
    assert chain.onchain_weights(NETUID, 0).weights == ((1, 65535),)


def test_weights_inside_the_rate_limit_are_refused_with_the_blocks_to_wait(world: World) -> None:
    _validator_with_miners(world)
    world.advance(100)
    chain = world.chain_as("validator")
    assert chain.set_weights(NETUID, {1: 1.0}, version_key=0).ok
    world.advance(10)
    wait = chain.blocks_until_weights_allowed(NETUID, 0)
    again = chain.set_weights(NETUID, {2: 1.0}, version_key=0)
    assert not again.ok
    assert again.error_code == "rate_limited"
    assert again.retry_in_blocks == wait > 0
    assert again.sent == ()
    assert chain.onchain_weights(NETUID, 0).weights == ((1, 65535),)


def test_stale_version_key_is_an_outcome_not_an_exception(world: World) -> None:
    _validator_with_miners(world)
    world.configure(version_key=7)
    world.advance(100)
    chain = world.chain_as("validator")
    stale = chain.set_weights(NETUID, {1: 1.0}, version_key=6)
    assert (stale.ok, stale.error_code) == (False, "stale_version_key")
    assert chain.onchain_weights(NETUID, 0).weights == ()
    assert chain.set_weights(NETUID, {1: 1.0}, version_key=7).ok


def test_unregistered_validator_is_told_it_is_not_registered(world: World) -> None:
    _validator_with_miners(world)
    world.advance(100)
    result = world.chain_as("outsider").set_weights(NETUID, {1: 1.0}, version_key=0)
    assert (result.ok, result.error_code, result.sent) == (False, "not_registered", ())


def test_weights_for_unknown_uids_are_an_invalid_argument(world: World) -> None:
    _validator_with_miners(world)
    world.advance(100)
    chain = world.chain_as("validator")
    result = chain.set_weights(NETUID, {1: 1.0, 99: 1.0}, version_key=0)
    assert (result.ok, result.error_code) == (False, "invalid_argument")
    assert chain.onchain_weights(NETUID, 0).weights == ()


@pytest.mark.parametrize("bad", [{}, {1: 0.0}, {1: -1.0}, {1: float("nan")}])
def test_weights_no_chain_accepts_are_refused_before_submission(
    world: World, bad: dict[int, float]
) -> None:
    _validator_with_miners(world)
    world.advance(100)
    result = world.chain_as("validator").set_weights(NETUID, bad, version_key=0)
    assert (result.ok, result.error_code, result.sent) == (False, "invalid_argument", ())
