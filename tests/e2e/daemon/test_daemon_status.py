"""The daemon serves /healthz, /metrics and the read-only status API while it runs."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from pathlib import Path

import httpx

from tests.e2e.daemon.cluster import (
    SKILLS,
    hotkey,
    make_world,
    profiles,
    start_daemon,
    wait_until,
)
from tests.support.ports import free_port
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments
from throne.miners import MinerServer

SAMPLED = 'throne_samples_scored_total{env="SAT",outcome="ok"}'


def test_a_running_daemon_reports_health_metrics_and_rank(tmp_path: Path) -> None:
    envs = environments()
    port = free_port()
    with MinerServer(profiles(), list(envs.values())) as miners:
        world = make_world(tmp_path, miners.base_url, bytes(32))
        settings = settings_from_dict(
            world.settings_dict(), {n: e.id_range for n, e in envs.items()}
        )
        settings = replace(settings, validator=replace(settings.validator, status_port=port))
        services = build(settings, pool_secret=bytes(32))
        base = f"http://127.0.0.1:{port}"
        seen: dict[str, object] = {}

        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(services.daemon.run(stop))
            deadline = time.monotonic() + 60
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                while time.monotonic() < deadline:
                    rank = (await client.get("/rank")).json()
                    text = (await client.get("/metrics")).text
                    if rank.get("champion") and SAMPLED in text:
                        break
                    await asyncio.sleep(0.3)
                seen["healthz"] = await client.get("/healthz")
                seen["metrics"] = (await client.get("/metrics")).text
                seen["rank"] = (await client.get("/rank")).json()
                seen["weights"] = (await client.get("/weights")).status_code
                seen["post"] = (await client.post("/rank")).status_code
            stop.set()
            await task
            await services.client.aclose()

        try:
            asyncio.run(run())
        finally:
            services.close_sync()
    health = seen["healthz"]
    assert isinstance(health, httpx.Response) and health.status_code == 200
    metrics = str(seen["metrics"])
    assert SAMPLED in metrics
    assert "throne_last_tick_block" in metrics
    ticks = re.search(r"^throne_tick_seconds_count (\S+)$", metrics, re.MULTILINE)
    assert ticks is not None and float(ticks.group(1)) >= 1  # every tick is timed
    # The crown moves as battles are decided: any of the world's miners may hold it by now.
    assert seen["rank"]["champion"]["hotkey"] in {hotkey(n) for n in SKILLS}  # type: ignore[index]
    assert seen["weights"] == 200
    assert seen["post"] == 405
    with httpx.Client() as c:  # the server is gone after the daemon stops
        try:
            c.get(f"{base}/healthz", timeout=1)
            raise AssertionError("status server still listening")
        except httpx.TransportError:
            pass


def test_the_daemon_keeps_only_its_latest_steps_in_memory() -> None:
    from throne.daemon.daemon import STEPS_KEPT, DaemonState

    state = DaemonState()
    for block in range(10 * STEPS_KEPT):
        state.steps.append((block, "battle_started"))
    assert len(state.steps) == STEPS_KEPT
    assert state.steps[0][0] == 9 * STEPS_KEPT and state.steps[-1][0] == 10 * STEPS_KEPT - 1


def test_the_status_server_does_not_outlive_a_daemon_killed_outright(tmp_path: Path) -> None:
    envs = environments()
    port = free_port()
    with MinerServer(profiles(), list(envs.values())) as miners:
        world = make_world(tmp_path, miners.base_url, bytes(32))
        text = world.config.read_text()
        world.config.write_text(
            text.replace("[validator]\n", f"[validator]\nstatus_port = {port}\n")
        )
        daemon = start_daemon(world, tmp_path / "daemon.log")
        base = f"http://127.0.0.1:{port}"
        try:

            def answers() -> bool:
                try:
                    return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            assert wait_until(answers, 120), (tmp_path / "daemon.log").read_text()[-2000:]
        finally:
            daemon.kill()  # SIGKILL: no chance to stop its status server
            daemon.wait(timeout=30)
        assert wait_until(lambda: not answers(), 60)
