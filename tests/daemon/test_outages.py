"""A daemon on PostgreSQL whose event log is blocked: its loops time out instead of hanging,
report an outage that `/healthz` names, and log its end with a duration once the log is back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from structlog.testing import capture_logs

from tests.daemon.cluster import make_world, profiles
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments
from throne.miners import MinerServer

SAMPLED = "throne_samples_scored_total{"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(
    check: Callable[[], Awaitable[httpx.Response | None]], timeout: float
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f} s")


def _lock_event_table(postgres_url: str, schema: str) -> Any:
    """A second session holding the log's events table in ACCESS EXCLUSIVE mode: every read
    and write of the log waits for it, as it would behind a long migration or VACUUM FULL."""
    import psycopg

    conn = psycopg.connect(postgres_url)
    conn.execute(f'LOCK TABLE "{schema}".throne_events IN ACCESS EXCLUSIVE MODE')
    return conn


@pytest.mark.postgres
def test_a_blocked_event_log_is_an_outage_that_healthz_names_until_it_is_released(
    tmp_path: Path, postgres_url: str, postgres_schema_url: str
) -> None:
    envs = environments()
    port = _free_port()
    schema = parse_qs(urlsplit(postgres_schema_url).query)["schema"][0]
    seen: dict[str, Any] = {}
    with MinerServer(profiles(), list(envs.values())) as miners:
        world = make_world(tmp_path, miners.base_url, bytes(32), db_url=postgres_schema_url)
        settings = settings_from_dict(
            world.settings_dict(), {n: e.id_range for n, e in envs.items()}
        )
        settings = replace(settings, validator=replace(settings.validator, status_port=port))
        services = build(settings, pool_secret=bytes(32))

        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(services.daemon.run(stop))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:

                async def sampling() -> httpx.Response | None:
                    r = await c.get("/metrics")
                    return r if SAMPLED in r.text else None

                async def unhealthy() -> httpx.Response | None:
                    r = await c.get("/healthz")
                    return r if r.status_code == 503 and "sampler" in r.json()["outages"] else None

                async def healthy() -> httpx.Response | None:
                    r = await c.get("/healthz")
                    return r if r.status_code == 200 else None

                await _until(sampling, 120)
                holder = await asyncio.to_thread(_lock_event_table, postgres_url, schema)
                try:
                    seen["down"] = await _until(unhealthy, 60)
                finally:
                    await asyncio.to_thread(holder.close)  # rolls back: the lock is gone
                seen["up"] = await _until(healthy, 90)
            stop.set()
            await task
            await services.client.aclose()

        try:
            with capture_logs() as logs:
                asyncio.run(run())
        finally:
            services.close_sync()

    down = seen["down"].json()
    assert down["status"] == "outage"
    sampler = down["outages"]["sampler"]
    assert sampler["cause"] == "database" and "lock timeout" in sampler["error"]
    assert seen["up"].json()["outages"] == {}
    started = {e["loop"] for e in logs if e["event"] == "outage_started"}
    ended = {e["loop"]: e for e in logs if e["event"] == "outage_ended"}
    assert "sampler" in started and started <= set(ended)
    assert all(e["duration_s"] > 0 and e["failures"] >= 1 for e in ended.values())
