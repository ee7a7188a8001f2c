"""The status API served by a child process: it reads the log itself and relays what the daemon
tells it of its health and metrics."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeClock
from tests.support.contest import Driver, small_config
from tests.support.ports import refusing_port
from tests.support.story import CHAL_UID, tell
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.observability.health import Heartbeat
from throne.observability.metrics import ThroneMetrics
from throne.observability.publication import PublishTarget
from throne.observability.status_process import Relay, StatusProcess


def _until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s")
        time.sleep(0.05)


def test_the_child_serves_the_log_and_relays_the_daemons_health_and_metrics(
    tmp_path: Path,
) -> None:
    path = tmp_path / "throne.db"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    config = small_config()
    told = tell(Driver(app=ThroneApplication(config, env=env)))
    heartbeat, metrics = Heartbeat(), ThroneMetrics()
    heartbeat.beat(7)
    metrics.observe_tick(7)
    status = StatusProcess(
        config=config,
        db=parse_database_url(str(path)),
        heartbeat=heartbeat,
        metrics=metrics,
        max_staleness=60,
    )
    with status, httpx.Client(base_url=status.url, timeout=10) as client:
        rank = client.get("/rank").json()
        assert rank["champion"]["hotkey"] == "chal"
        assert client.get("/weights").json()["weights"] == {str(CHAL_UID): 1.0}
        assert client.get("/miners/weak").json()["hotkey"] == "weak"
        assert client.get("/miners/" + "9" * 5000).status_code == 400
        assert "throne_last_tick_block 7.0" in client.get("/metrics").text
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["last_tick_block"] == 7

        heartbeat.outages.failed("sampler", "OperationalError: lock timeout", "database")
        _until(lambda: client.get("/healthz").status_code == 503)
        assert client.get("/healthz").json()["outages"]["sampler"]["cause"] == "database"
        heartbeat.outages.succeeded("sampler")
        _until(lambda: client.get("/healthz").status_code == 200)

        told.join("newcomer", block=8, uid=9)
        told.sync()  # the daemon writes; the child sees it within its refresh interval
        _until(lambda: "newcomer" in {r["hotkey"] for r in client.get("/rank").json()["rows"]})
        url = status.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
    told.app.close()


def test_a_busy_port_fails_in_start_in_the_callers_thread(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status = StatusProcess(
            config=small_config(),
            db=parse_database_url(str(tmp_path / "throne.db")),
            heartbeat=Heartbeat(),
            port=int(taken.getsockname()[1]),
        )
        with pytest.raises(OSError):
            status.start()


def test_a_daemon_that_stops_reporting_makes_healthz_unhealthy() -> None:
    clock = FakeClock(10.0)
    relay = Relay(clock, silence=5.0)
    assert relay.status() == (True, {"status": "starting", "outages": {}})
    relay.update(True, {"status": "ok", "outages": {}}, b"metrics")
    clock.now += 4.9
    assert relay.status() == (True, {"status": "ok", "outages": {}})
    assert relay.exposition() == b"metrics"
    clock.now += 0.2
    healthy, body = relay.status()
    assert not healthy and body["status"] == "silent" and "5 s" in body["error"]
    relay.update(False, {"status": "outage", "outages": {"tick": {}}}, b"")
    assert relay.status() == (False, {"status": "outage", "outages": {"tick": {}}})


def test_the_daemons_status_port_serves_the_dashboard_naming_where_the_log_is_published(
    tmp_path: Path,
) -> None:
    path = tmp_path / "throne.db"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    config = small_config()
    tell(Driver(app=ThroneApplication(config, env=env)))
    with refusing_port() as port:
        endpoint = f"http://127.0.0.1:{port}"
        status = StatusProcess(
            config=config,
            db=parse_database_url(str(path)),
            heartbeat=Heartbeat(),
            publish=PublishTarget("s3://bucket/validator", endpoint_url=endpoint),
        )
        with status, httpx.Client(base_url=status.url, timeout=30) as client:
            overview = client.get("/dashboard")
            assert overview.status_code == 200 and "chal" in overview.text
            audit = client.get("/audit").json()
            assert audit["verify_commands"] == [
                f"throne audit verify s3://bucket/validator --endpoint-url {endpoint}"
            ]
            assert audit["published"]["last_checkpoint"] is None
            assert audit["published"]["error"]  # the store is down: said, not an error page
            assert client.get("/dashboard/audit").status_code == 200
