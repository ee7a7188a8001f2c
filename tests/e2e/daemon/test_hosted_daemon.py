"""The daemon hosting its miners' models: each deployment a local miner server started by the
test host; battles start once both sides answer, losers are torn down, the table says who is
deployed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.daemon.cluster import SKILLS, hotkey, make_world, model
from tests.support.contest import read_standings
from tests.support.miner_host import MinerHost
from throne.adapters.storage.deployments import read_deployments
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments

DEADLINE_SECONDS = 120.0


def test_a_hosting_daemon_decides_battles_and_tears_the_losers_down(tmp_path: Path) -> None:
    envs = environments()
    host = MinerHost(list(envs.values()), slots=3, skills={model(n): s for n, s in SKILLS.items()})
    # The gateway's routes point nowhere: every answer comes from a hosted deployment.
    world = make_world(tmp_path, "http://127.0.0.1:9/v1", bytes(32))
    raw = world.settings_dict()
    raw["hosting"] = {"pre_deploy": 1, "health_every": 1.0}
    settings = settings_from_dict(raw, {n: e.id_range for n, e in envs.items()})
    services = build(settings, pool_secret=bytes(32), host=host)
    assert services.hosting is not None
    hosting = services.hosting
    most_deployed = 0

    def decided() -> int:
        with world.app() as app:
            s = read_standings(app)
        return len(s["terminated"])

    def settled() -> bool:
        """Two battles decided, and the scheduler caught up with them (losers gone)."""
        with world.app() as app:
            s = read_standings(app)
        if len(s["terminated"]) < 2 or not any(d["torn_down"] for d in hosting.deployments()):
            return False
        engine = services.db.create_engine()
        try:
            table = {r["hotkey"] for r in read_deployments(engine)}
        finally:
            engine.dispose()
        return not table & {m["hotkey"] for m in s["terminated"]}

    async def run() -> None:
        nonlocal most_deployed
        stop = asyncio.Event()
        task = asyncio.create_task(services.daemon.run(stop))
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and not task.done():
            most_deployed = max(most_deployed, len(host.running()))
            if settled():
                break
            await asyncio.sleep(0.2)
        stop.set()
        await task
        await services.client.aclose()

    try:
        asyncio.run(run())
        engine = services.db.create_engine()
        table = read_deployments(engine)
        engine.dispose()
    finally:
        services.close_sync()
        host.close_all()
    assert decided() >= 2, hosting.deployments()
    assert most_deployed <= 3, "never more than the host's slots"
    shown = hosting.deployments()
    gone = {d["hotkey"] for d in shown if d["torn_down"]}
    assert gone, "a loser or a dethroned champion was torn down"
    with world.app() as app:
        s = read_standings(app)
    terminated = {m["hotkey"] for m in s["terminated"]}
    assert gone <= terminated | {m["hotkey"] for m in s["queue"]}
    assert s["champion"]["hotkey"] in {r["hotkey"] for r in table}, "the champion is deployed"
    assert all(r["hotkey"] not in terminated for r in table)
    assert {d["role"] for d in shown} >= {"champion"}
    assert all(d["ready_s"] >= 0 for d in shown)
    assert set(hotkey(n) for n in SKILLS) >= {d["hotkey"] for d in shown}
