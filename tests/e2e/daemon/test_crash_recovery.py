"""SIGKILL at random moments: after restarts nothing is lost or recorded twice, and the
contest reaches the verdicts of an uninterrupted run."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path

from tests.e2e.daemon.cluster import (
    decisions,
    make_world,
    settled,
    start_daemon,
    stop,
    wait_until,
)
from tests.support.contest import read_standings
from throne.adapters.storage.database import parse_database_url
from throne.audit.sources import DatabaseLog
from throne.audit.verification import verify
from throne.domain.contest.scorecard import Scorecard

SECRET = bytes(range(32))


def test_sigterm_stops_the_daemon_cleanly_within_seconds(tmp_path: Path, miners: str) -> None:
    world = make_world(tmp_path / "w", miners, SECRET)
    proc = start_daemon(world, tmp_path / "log")
    assert wait_until(lambda: _has_pool(world), 30), (tmp_path / "log").read_text()
    started = time.monotonic()
    assert stop(proc, signal.SIGTERM) == 0
    assert time.monotonic() - started < 8


def test_a_stop_during_start_up_still_exits_cleanly(tmp_path: Path, miners: str) -> None:
    world = make_world(tmp_path / "w", miners, SECRET)
    proc = start_daemon(world, tmp_path / "log")
    time.sleep(0.5)  # while the command is still importing and building its services
    assert stop(proc, signal.SIGTERM) == 0, (tmp_path / "log").read_text()[-2000:]


def _has_pool(world) -> bool:  # type: ignore[no-untyped-def]
    try:
        with world.app() as app:
            return read_standings(app)["pool"] is not None
    except Exception:
        return False


def test_killed_daemons_reach_the_verdicts_of_an_uninterrupted_run(
    tmp_path: Path, miners: str
) -> None:
    calm = make_world(tmp_path / "calm", miners, SECRET)
    proc = start_daemon(calm, tmp_path / "calm.log")
    assert wait_until(lambda: settled(calm), 120), (tmp_path / "calm.log").read_text()[-3000:]
    assert stop(proc) == 0

    rough = make_world(tmp_path / "rough", miners, SECRET)
    rng = random.Random(7)
    kills = 0
    for _ in range(4):
        proc = start_daemon(rough, tmp_path / "rough.log")
        time.sleep(rng.uniform(1.0, 4.0))
        proc.kill()
        proc.wait()
        kills += 1
        if settled(rough):
            break
    proc = start_daemon(rough, tmp_path / "rough.log")
    assert wait_until(lambda: settled(rough), 120), (tmp_path / "rough.log").read_text()[-3000:]
    time.sleep(1.0)  # a stop during start-up is honoured too; let it also run a little
    assert stop(proc) == 0
    assert kills >= 1

    with calm.app() as a, rough.app() as b:
        assert decisions(b) == decisions(a)
        assert len(decisions(a)) == 3
        _assert_no_sample_recorded_twice(b)
    summary = verify(DatabaseLog(parse_database_url(rough.db_url))).replay
    assert summary.verdicts_checked >= 2


def _assert_no_sample_recorded_twice(app) -> None:  # type: ignore[no-untyped-def]
    keys: Counter[tuple[object, ...]] = Counter()
    for n in app.recorder.select_notifications(start=1, limit=10**6):
        if n.topic == Scorecard.SampleScored.TOPIC:
            e = app.mapper.to_domain_event(n)
            if e.outcome != "infra_error":
                keys[(e.pool, e.env, e.task_id, e.hotkey, e.revision)] += 1
    assert keys and max(keys.values()) == 1
