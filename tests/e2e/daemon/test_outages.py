"""A daemon on PostgreSQL whose event log is blocked or whose server stops: its loops time out
instead of hanging, report an outage that `/healthz` names, and log its end with a duration
once the log is back."""

from __future__ import annotations

import asyncio
import runpy
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from structlog.testing import capture_logs

from tests.e2e.daemon.cluster import make_world, profiles
from tests.support.paths import ROOT
from tests.support.ports import free_port
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments
from throne.miners import MinerServer

SAMPLED = "throne_samples_scored_total{"
PG_CLUSTER = ROOT / "scripts" / "pg-cluster"


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


@dataclass
class Seen:
    down: dict[str, Any]
    up: dict[str, Any]
    logs: list[dict[str, Any]]
    #: how many log lines had come when the log was mended
    mended_at: int

    def unended(self) -> set[str]:
        """The loops whose outage started while the log was broken and has not ended since."""
        return _unended(self.logs, self.mended_at)


def _unended(logs: list[dict[str, Any]], mended_at: int) -> set[str]:
    """The loops whose outage of the break is still open: an outage that started before the
    mend and has no end after its start (one that began and ended while the log was broken,
    a loop whose call got through once, is over as well)."""
    state: dict[str, str] = {}
    for i, e in enumerate(logs):
        if e["event"] == "outage_started" and i < mended_at:
            state[e["loop"]] = "open"
        elif e["event"] == "outage_ended" and e["loop"] in state:
            state[e["loop"]] = "ended"
    return {loop for loop, now in state.items() if now == "open"}


def _through_an_outage(
    tmp_path: Path,
    db_url: str,
    break_log: Callable[[], Any],
    mend_log: Callable[[Any], None],
    failure_says: str,
) -> Seen:
    """Run a daemon on ``db_url`` until it samples, break the log, wait for /healthz to name
    the sampler and for a loop to fail with an error that says ``failure_says`` (its call
    timed out, it did not hang), mend the log, wait for /healthz to be 200 again."""
    envs = environments()
    port = free_port()
    seen: dict[str, Any] = {}
    with MinerServer(profiles(), list(envs.values())) as miners:
        world = make_world(tmp_path, miners.base_url, bytes(32), db_url=db_url)
        settings = settings_from_dict(
            world.settings_dict(), {n: e.id_range for n, e in envs.items()}
        )
        settings = replace(settings, validator=replace(settings.validator, status_port=port))
        services = build(settings, pool_secret=bytes(32))

        async def run(logs: list[dict[str, Any]]) -> None:
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

                async def timed_out() -> httpx.Response | None:
                    failed = [e for e in logs if e["event"] == "loop_failed"]
                    return (
                        await unhealthy()
                        if any(failure_says in e["error"] for e in failed)
                        else None
                    )

                broken = await asyncio.to_thread(break_log)
                try:
                    seen["down"] = (await _until(unhealthy, 60)).json()
                    await _until(timed_out, 90)
                finally:
                    await asyncio.to_thread(mend_log, broken)
                    seen["mended_at"] = len(logs)
                seen["up"] = (await _until(healthy, 120)).json()

                async def all_ended() -> httpx.Response | None:
                    # /healthz may be 200 while a loop still waits to see its call fail (or,
                    # after a restart of the server, finds its listening connection gone):
                    # each outage of the break must have ended before the daemon is stopped.
                    return await healthy() if not _unended(logs, seen["mended_at"]) else None

                try:
                    await _until(all_ended, 120)
                except AssertionError as exc:
                    health = (await c.get("/healthz")).json()
                    unended = _unended(logs, seen["mended_at"])
                    raise AssertionError(f"{exc}: unended {unended}, /healthz {health}") from None
            stop.set()
            await task
            await services.client.aclose()

        try:
            with capture_logs() as logs:
                asyncio.run(run(logs))
        finally:
            services.close_sync()
    return Seen(seen["down"], seen["up"], logs, seen["mended_at"])


def _assert_bracketed(seen: Seen) -> None:
    """The sampler was named while the log was broken (its call failed, or was still blocked
    when it passed its bound); every outage of the break ended after it, with a duration."""
    assert seen.down["status"] == "outage"
    assert seen.down["outages"]["sampler"]["cause"] in ("database", "stalled")
    assert seen.up["outages"] == {}
    during = seen.logs[: seen.mended_at]
    assert "sampler" in {e["loop"] for e in during if e["event"] == "outage_started"}
    assert seen.unended() == set()
    ended = [e for e in seen.logs[seen.mended_at :] if e["event"] == "outage_ended"]
    assert ended and all(e["duration_s"] > 0 for e in ended)


@pytest.mark.postgres
def test_a_locked_event_log_is_an_outage_that_healthz_names_until_the_lock_goes(
    tmp_path: Path, postgres_url: str, postgres_schema_url: str
) -> None:
    schema = parse_qs(urlsplit(postgres_schema_url).query)["schema"][0]

    def lock() -> Any:
        # A second session holding the events table in ACCESS EXCLUSIVE mode: every read and
        # write of the log waits for it, as behind a long migration or a VACUUM FULL.
        import psycopg

        conn = psycopg.connect(postgres_url)
        conn.execute(f'LOCK TABLE "{schema}".throne_events IN ACCESS EXCLUSIVE MODE')
        return conn

    seen = _through_an_outage(
        tmp_path, postgres_schema_url, lock, lambda conn: conn.close(), "lock timeout"
    )
    _assert_bracketed(seen)


@contextmanager
def _cluster_of_our_own() -> Iterator[tuple[Any, str]]:
    """A throwaway PostgreSQL cluster (scripts/pg-cluster's) that this test may stop."""
    script = runpy.run_path(str(PG_CLUSTER))
    bindir = script["find_bindir"]()
    assert bindir is not None, "PostgreSQL's server binaries are not installed"
    cluster = script["Cluster"](bindir)
    try:
        yield cluster, cluster.start()
    finally:
        cluster.stop()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_postgresql_server_that_stops_is_an_outage_from_when_it_stops_to_when_it_is_back(
    tmp_path: Path, postgres_url: str
) -> None:
    # postgres_url: the tests' cluster is there, so PostgreSQL is installed; this test stops
    # one of its own, as an operator or a crash would stop the server.
    with _cluster_of_our_own() as (cluster, url):
        seen = _through_an_outage(
            tmp_path, url, cluster.halt, lambda _: cluster.resume(), "connection"
        )
    _assert_bracketed(seen)
