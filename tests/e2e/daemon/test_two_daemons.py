"""Two daemons on one PostgreSQL log: one writes (chain, decisions, weights), the other stands by
and samples; no battle is decided twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from tests.e2e.daemon.cluster import decisions, make_world, profiles, settled
from throne.adapters.storage.database import parse_database_url
from throne.app import build
from throne.audit.sources import DatabaseLog
from throne.audit.verification import verify
from throne.daemon.settings import Settings, settings_from_dict
from throne.domain.contest.contest import Contest
from throne.envs.registry import environments
from throne.miners import MinerServer


def named(settings: Settings, worker: str) -> Settings:
    return replace(settings, sampler=replace(settings.sampler, worker_name=worker))


@pytest.mark.postgres
def test_two_daemons_on_one_postgres_log_never_decide_a_battle_twice(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    envs = environments()
    with MinerServer(profiles(), list(envs.values())) as server:
        world = make_world(tmp_path, server.base_url, bytes(32), db_url=postgres_schema_url)
        ranges = {n: e.id_range for n, e in envs.items()}
        settings = settings_from_dict(world.settings_dict(), ranges)
        first, second = (
            build(named(settings, name), pool_secret=bytes(32)) for name in ("first", "second")
        )

        async def race() -> None:
            stop = asyncio.Event()
            runs = [asyncio.create_task(s.daemon.run(stop)) for s in (first, second)]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not await asyncio.to_thread(settled, world):
                await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*runs)
            for s in (first, second):
                await s.client.aclose()

        try:
            asyncio.run(race())
        finally:
            first.close_sync()
            second.close_sync()
    assert settled(world)
    roles = {s.daemon.state.role: s for s in (first, second)}
    assert set(roles) == {"writer", "standby"}
    assert roles["standby"].sampler.stats.recorded > 0  # it sampled like a worker
    assert roles["standby"].daemon.state.ticked_block == 0  # and decided nothing
    healthy, body = roles["standby"].daemon.heartbeat.status(max_staleness=60)
    assert healthy and body["status"] == "ok"  # a standby is not a stalled daemon
    with world.app() as app:
        ends = decisions(app)
        starts = Counter(
            e.hotkey for e in app.events.get(app.contest_id) if isinstance(e, Contest.BattleStarted)
        )
    assert len(ends) == 3
    assert Counter(hk for _, hk, _ in ends) == starts
    assert max(starts.values()) == 1
    summary = verify(DatabaseLog(parse_database_url(postgres_schema_url))).replay
    assert summary.verdicts_checked >= 2
