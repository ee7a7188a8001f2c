"""LocalChain beyond the shared contract: its clock, its slots, its file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from throne.adapters.chain.local import LocalChain, LocalChainMissing
from throne.ports.chain import ChainRefused


def test_blocks_follow_wall_time_at_twelve_seconds_each(tmp_path: Path) -> None:
    clock = FakeClock()
    chain = LocalChain.init(tmp_path / "c.db", start_block=10, clock=clock)
    assert chain.current_block() == 10
    clock.now += 11.9
    assert chain.current_block() == 10
    clock.now += 0.1
    assert chain.current_block() == 11
    clock.now += 12 * 99
    assert chain.current_block() == 110


def test_advancing_a_wall_clock_chain_fast_forwards_it(tmp_path: Path) -> None:
    clock = FakeClock()
    chain = LocalChain.init(tmp_path / "c.db", start_block=1, clock=clock)
    assert chain.advance(100) == 101
    clock.now += 24
    assert chain.current_block() == 103


def test_a_manual_chain_only_moves_when_stepped(tmp_path: Path) -> None:
    clock = FakeClock()
    chain = LocalChain.init(tmp_path / "c.db", clock_mode="manual", clock=clock)
    clock.now += 3600
    assert chain.current_block() == 1
    assert chain.advance(5) == 6


def test_a_full_subnet_recycles_the_oldest_registration(tmp_path: Path) -> None:
    chain = LocalChain.init(tmp_path / "c.db", clock_mode="manual")
    for i in range(256):
        assert chain.register(120, f"hk{i}") == i
        chain.advance(1)
    chain.as_signer("hk0").commit(120, "old")
    assert chain.register(120, "newcomer") == 0
    assert chain.register(120, "second") == 1
    snap = chain.snapshot(120)
    assert len(snap.neurons) == 256
    assert snap.uid_of("hk0") is None and snap.uid_of("newcomer") == 0
    assert [c.hotkey for c in snap.commitments] == ["hk0"]  # commitments outlive the uid


def test_a_recycled_validator_uid_loses_its_weights(tmp_path: Path) -> None:
    chain = LocalChain.init(tmp_path / "c.db", clock_mode="manual", weights_rate_limit=0)
    chain.configure_subnet(120, max_uids=2)
    chain.register(120, "validator")
    chain.register(120, "miner")
    assert chain.as_signer("validator").set_weights(120, {1: 1.0}, 0).ok
    chain.advance(1)
    chain.register(120, "newcomer")
    assert chain.onchain_weights(120, 0).weights == ()


def test_a_hotkey_cannot_register_twice_on_one_subnet(tmp_path: Path) -> None:
    chain = LocalChain.init(tmp_path / "c.db")
    chain.register(120, "alice")
    with pytest.raises(ChainRefused, match="already registered"):
        chain.register(120, "alice")


def test_state_is_shared_by_every_handle_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    LocalChain.init(path, clock_mode="manual").register(120, "alice")
    LocalChain(path, hotkey="alice").commit(120, "hello")
    assert LocalChain(path).snapshot(120).commitments[0].text == "hello"


def test_opening_a_missing_chain_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(LocalChainMissing, match="throne localnet init"):
        LocalChain(tmp_path / "absent.db")


def test_init_refuses_to_overwrite_an_existing_chain(tmp_path: Path) -> None:
    LocalChain.init(tmp_path / "c.db")
    with pytest.raises(ChainRefused, match="already exists"):
        LocalChain.init(tmp_path / "c.db")


def test_a_snapshot_of_an_unknown_subnet_is_empty(tmp_path: Path) -> None:
    snap = LocalChain.init(tmp_path / "c.db", clock_mode="manual").snapshot(7)
    assert (snap.block, snap.neurons, snap.commitments) == (1, (), ())


def test_concurrent_registrations_from_many_handles_get_distinct_uids(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    LocalChain.init(path, clock_mode="manual")

    def register_batch(batch: int) -> list[int]:
        chain = LocalChain(path)
        return [chain.register(120, f"hk{batch}-{i}") for i in range(16)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        uids = [uid for batch in pool.map(register_batch, range(8)) for uid in batch]
    assert sorted(uids) == list(range(128))
