"""The status API over real HTTP on loopback, served by uvicorn in a background thread."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.clock import FakeClock
from tests.support.contest import Driver, small_config
from tests.support.story import CHAL_UID, WEAK_UID, tell
from throne.application import ThroneApplication
from throne.domain.contest.config import ContestConfig
from throne.observability.health import Heartbeat
from throne.observability.metrics import ThroneMetrics
from throne.observability.status_api import StatusServer, status_app
from throne.projections.read_side import ReadSide


@pytest.fixture(scope="module")
def driver() -> Driver:
    return tell(Driver())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def served(
    driver: Driver, clock: FakeClock
) -> Iterator[tuple[httpx.Client, Heartbeat, ThroneMetrics]]:
    heartbeat, metrics = Heartbeat(clock), ThroneMetrics()
    app = status_app(lambda: driver.reads, heartbeat=heartbeat, metrics=metrics, max_staleness=60)
    with StatusServer(app) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        yield client, heartbeat, metrics


def test_healthz_reports_the_last_tick_and_turns_503_when_it_is_stale(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics], clock: FakeClock
) -> None:
    client, heartbeat, _ = served
    first = client.get("/healthz")
    assert first.status_code == 200 and first.json()["status"] == "starting"
    heartbeat.beat(7)
    clock.now += 12
    ok = client.get("/healthz")
    assert ok.status_code == 200
    assert ok.json()["last_tick_block"] == 7 and ok.json()["last_tick_age_seconds"] == 12
    clock.now += 50  # 62 s since the tick, over the 60 s bound
    stale = client.get("/healthz")
    assert stale.status_code == 503 and stale.json()["status"] == "stale"
    heartbeat.beat(8)
    assert client.get("/healthz").status_code == 200


def test_healthz_is_503_naming_each_loop_in_outage_until_it_works_again(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics], clock: FakeClock
) -> None:
    client, heartbeat, _ = served
    heartbeat.beat(7)
    heartbeat.outages.failed("sampler", "OperationalError: lock timeout", "database")
    clock.now += 4
    down = client.get("/healthz")
    assert down.status_code == 503 and down.json()["status"] == "outage"
    assert down.json()["outages"] == {
        "sampler": {
            "cause": "database",
            "error": "OperationalError: lock timeout",
            "seconds": 4.0,
            "failures": 1,
        }
    }
    heartbeat.outages.succeeded("sampler")
    up = client.get("/healthz")
    assert up.status_code == 200 and up.json()["status"] == "ok" and up.json()["outages"] == {}


def test_a_daemon_that_never_ticks_becomes_unhealthy(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics], clock: FakeClock
) -> None:
    client, _, _ = served
    clock.now += 61
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["last_tick_block"] is None


def test_rank_and_weights_serve_the_views_as_json(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics],
) -> None:
    client, _, _ = served
    rank = client.get("/rank")
    assert rank.status_code == 200 and rank.headers["content-type"] == "application/json"
    assert rank.json()["champion"]["hotkey"] == "chal"
    assert rank.json()["battle"]["progress"]["SAT"]["common"] == 2
    assert "task_ids" not in rank.text and '"seed"' not in rank.text
    assert client.get("/weights").json()["weights"] == {str(CHAL_UID): 1.0}


def test_miners_are_found_by_uid_or_hotkey_and_unknown_ones_are_404(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics],
) -> None:
    client, _, _ = served
    by_uid = client.get(f"/miners/{WEAK_UID}")
    assert by_uid.status_code == 200 and by_uid.json()["hotkey"] == "weak"
    assert client.get("/miners/weak").json() == by_uid.json()
    missing = client.get("/miners/nobody")
    assert missing.status_code == 404 and "nobody" in missing.json()["error"]


def test_metrics_are_served_in_the_prometheus_text_format(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics],
) -> None:
    client, _, metrics = served
    metrics.observe_tick(9, ["dethroned"])
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'throne_battles_decided_total{result="dethroned"} 1.0' in r.text
    assert "throne_last_tick_block 9.0" in r.text


def test_the_api_is_read_only(served: tuple[httpx.Client, Heartbeat, ThroneMetrics]) -> None:
    client, _, _ = served
    assert client.post("/rank").status_code == 405
    assert client.delete("/miners/weak").status_code == 405


def test_an_unreadable_log_answers_503_not_a_crash(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database\n" * 100)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": f"{junk.as_uri()}?mode=ro",
        "CREATE_TABLE": "false",
    }

    def provide() -> ReadSide:
        return ReadSide(ThroneApplication(ContestConfig(), env=env), owns=True)

    app = status_app(provide, heartbeat=Heartbeat())
    with StatusServer(app) as server:
        r = httpx.get(f"{server.url}/rank", timeout=5)
        assert r.status_code == 503 and "event log unavailable" in r.json()["error"]
        assert httpx.get(f"{server.url}/metrics", timeout=5).status_code == 404


def test_the_server_stops_and_frees_its_port() -> None:
    server = StatusServer(status_app(lambda: Driver().reads, heartbeat=Heartbeat()))
    server.start()
    url = server.url
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
    with pytest.raises(RuntimeError):
        _ = server.port


def test_history_serves_the_reigns_and_battles(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics],
) -> None:
    client, _, _ = served
    history = client.get("/history")
    assert history.status_code == 200
    body = history.json()
    assert [r["hotkey"] for r in body["reigns"]] == ["champ", "chal"]
    assert body["battles_decided"] == 2 and body["terminated"][0]["hotkey"] == "champ"
    assert "task_ids" not in history.text and '"seed"' not in history.text


def test_requests_between_two_changes_of_the_log_build_rank_once_and_the_next_shows_the_change(
    tmp_path: Path,
) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "l.db")}
    told = tell(Driver(app=ThroneApplication(small_config(), env=env)))
    app = status_app(lambda: told.reads, heartbeat=Heartbeat(), refresh_seconds=0)
    cache = app.state.read_cache
    with StatusServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        with ThreadPoolExecutor(8) as pool:
            ranks = list(pool.map(lambda _: client.get("/rank").json(), range(60)))
        assert cache.builds["rank"] == 1
        assert all(r == ranks[0] for r in ranks)
        assert "newcomer" not in {row["hotkey"] for row in ranks[0]["rows"]}
        told.join("newcomer", block=8, uid=9)
        told.sync()  # one new event in the log
        after = client.get("/rank").json()
        assert "newcomer" in {row["hotkey"] for row in after["rows"]}
        for _ in range(20):
            assert client.get("/rank").json() == after
        assert cache.builds["rank"] == 2
        assert client.get("/miners/newcomer").json()["uid"] == 9
        assert client.get("/miners/9").json()["hotkey"] == "newcomer"
        assert cache.builds["miners"] == 1


@pytest.mark.parametrize(
    "who",
    [
        "9" * 5000,  # int() refuses more than 4300 digits
        "65536",  # over the u16 range of uids
        "0" * 6,
        "h" * 65,
        "bad key",
        "caf%C3%A9",
        "%D9%A3",  # an Arabic-Indic digit: a digit to str.isdigit, not a uid
    ],
)
def test_a_huge_or_malformed_miner_key_is_a_400_with_a_json_error_before_any_read(
    who: str, served: tuple[httpx.Client, Heartbeat, ThroneMetrics]
) -> None:
    client, _, _ = served
    r = client.get(f"/miners/{who}")
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json()["error"].startswith("not a hotkey or uid: ")
    assert "Traceback" not in r.text


def test_the_largest_uid_and_a_long_hotkey_are_looked_up_not_refused(
    served: tuple[httpx.Client, Heartbeat, ThroneMetrics],
) -> None:
    client, _, _ = served
    assert client.get("/miners/65535").status_code == 404
    assert client.get(f"/miners/{'5' * 48}x").status_code == 404
