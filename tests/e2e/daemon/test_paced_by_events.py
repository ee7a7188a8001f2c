"""The contest moves at the pace of its samples, not of the chain's blocks: recorded samples
start and decide battles at the block already seen, and a battle that starts sets the
sampler to work at once."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.daemon.cluster import (
    decisions,
    make_world,
    settled,
    start_daemon,
    stop,
    wait_until,
)
from throne.domain.contest.contest import Contest

SECRET = bytes(range(32))


def test_every_battle_is_fought_on_a_chain_that_does_not_move(tmp_path: Path, miners: str) -> None:
    # A block a year: after the commitments the chain stays at one block for the whole test.
    world = make_world(tmp_path / "w", miners, SECRET, block_time=3.2e7)
    log = tmp_path / "daemon.log"
    proc = start_daemon(world, log)
    try:
        assert wait_until(lambda: settled(world), 120), log.read_text()[-3000:]
    finally:
        assert stop(proc) == 0
    with world.app() as app:
        assert len(decisions(app)) == 3
        events = list(app.events.get(app.contest_id))
    started = [e for e in events if isinstance(e, Contest.BattleStarted)]
    assert len(started) == 3
    assert len({e.block for e in started}) == 1, "all at the one block the chain shows"
