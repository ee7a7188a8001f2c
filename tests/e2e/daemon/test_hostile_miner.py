"""A challenger whose server answers deeply nested JSON: the battle still ends, the next one
starts, and nothing restarts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.daemon.cluster import (
    decisions,
    hotkey,
    make_world,
    settled,
    start_daemon,
    stop,
    wait_until,
)
from throne.domain.contest.scorecard import Scorecard
from throne.envs.registry import environments
from throne.miners import Faults, MinerProfile, MinerServer

SECRET = bytes(range(32))
#: committed in this order: the champion, the hostile challenger, the next challenger
NAMES = ("ant", "bee", "cat")


@pytest.fixture(scope="module")
def miners() -> Iterator[str]:
    profiles = [
        MinerProfile("ant", revision="r1", skill=0.5),
        # Perfect if it answered at all: every answer is 1,100 nested arrays instead.
        MinerProfile("bee", revision="r1", skill=1.0, faults=Faults(nested_rate=1.0)),
        MinerProfile("cat", revision="r1", skill=0.95),
    ]
    with MinerServer(profiles, list(environments().values())) as server:
        yield server.base_url


def test_a_challenger_answering_nested_json_scores_zeros_and_the_contest_moves_on(
    tmp_path: Path, miners: str
) -> None:
    world = make_world(tmp_path / "w", miners, SECRET, names=NAMES)
    log = tmp_path / "daemon.log"
    proc = start_daemon(world, log)
    try:
        finished = wait_until(lambda: settled(world), 240)
    finally:
        assert stop(proc) == 0
    output = log.read_text()
    assert finished, output[-3000:]
    with world.app() as app:
        assert decisions(app) == [
            ("terminated", hotkey("bee"), "lost_to_champion"),
            ("dethroned", hotkey("cat"), decisions(app)[1][2]),
        ]
        outcomes = Counter(
            e.outcome
            for n in app.recorder.select_notifications(1, 10**6)
            if n.topic == Scorecard.SampleScored.TOPIC
            for e in [app.mapper.to_domain_event(n)]
            if e.hotkey == hotkey("bee")
        )
    assert outcomes and set(outcomes) == {"model_error"}, outcomes
    assert "loop_failed" not in output
