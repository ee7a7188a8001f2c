"""The dashboard's pages over real HTTP, served by the status API's app: each page answers,
shows exactly the numbers its JSON routes answer, and bad input gets a clear page."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.contest import Driver
from tests.support.dashboard import at, marks
from tests.support.played import set_weights
from tests.support.story import LATE_UID, tell
from throne.domain.contest.contest import Contest
from throne.observability.health import Heartbeat
from throne.observability.status_api import StatusServer, status_app

PAGES = [
    "/dashboard",
    "/dashboard/reigns",
    "/dashboard/reigns?limit=1&page=2",
    "/dashboard/battles/1",
    "/dashboard/battles/3",
    f"/dashboard/miners/{LATE_UID}",
    "/dashboard/miners/champ",
    "/dashboard/miners/chal?limit=1",
    "/dashboard/envs/SAT",
    "/dashboard/weights",
    "/dashboard/audit",
]


@pytest.fixture(scope="module")
def driver() -> Driver:
    d = tell(Driver())
    set_weights(d.app, 7)
    return d


@pytest.fixture(scope="module")
def client(driver: Driver) -> Iterator[httpx.Client]:
    app = status_app(lambda: driver.reads, heartbeat=Heartbeat())
    with StatusServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("path", PAGES)
def test_every_number_a_page_shows_is_the_one_its_json_route_answers(
    client: httpx.Client, path: str
) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    found = marks(page.text)
    assert found, "a page shows numbers from the API"
    answers: dict[str, object] = {}
    for mark in found:
        if mark.src not in answers:
            got = client.get(mark.src)
            assert got.status_code == 200, mark.src
            answers[mark.src] = got.json()
        assert mark.value == at(answers[mark.src], mark.path), (mark.src, mark.path)


def test_the_pages_never_show_the_pools_seed_or_task_ids(
    driver: Driver, client: httpx.Client
) -> None:
    pools = [
        driver.app.mapper.to_domain_event(n)
        for n in driver.app.recorder.select_notifications(
            0, 100, topics=[Contest.PoolRefreshed.TOPIC]
        )
    ]
    assert pools
    for path in PAGES:
        text = client.get(path).text
        assert "task_id" not in text
        assert all(p.seed not in text for p in pools)


def test_the_assets_come_from_the_package(client: httpx.Client) -> None:
    css = client.get("/dashboard/static/dashboard.css")
    js = client.get("/dashboard/static/live.js")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    overview = client.get("/dashboard").text
    for outside in ('src="http', 'src="//', 'href="http', 'href="//'):
        assert outside not in overview
    assert 'src="/dashboard/static/live.js"' in overview
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"


@pytest.mark.parametrize(
    ("path", "status", "said"),
    [
        ("/dashboard/miners/nobody", 404, "no miner &#x27;nobody&#x27;"),
        ("/dashboard/miners/99999", 400, "a uid is a number from 0 to 65535"),
        ("/dashboard/miners/a%20b", 400, "a hotkey has only"),
        ("/dashboard/battles/99", 404, "no battle 99"),
        ("/dashboard/battles/first", 400, "a battle is named by its number"),
        ("/dashboard/envs/NOPE", 404, "the contest&#x27;s envs: SAT, ABD"),
        ("/dashboard/reigns?limit=5000", 400, "limit must be a whole number from 1 to 1000"),
        ("/dashboard/weights?page=0", 400, "page must be a whole number"),
    ],
)
def test_bad_input_gets_a_page_that_says_what_is_wrong(
    client: httpx.Client, path: str, status: int, said: str
) -> None:
    page = client.get(path)
    assert page.status_code == status and said in page.text
    assert 'href="/dashboard"' in page.text


def test_the_json_routes_page_the_history_and_refuse_bad_pages(client: httpx.Client) -> None:
    whole = client.get("/history").json()
    assert whole["page"]["totals"]["battles"] == len(whole["battles"]) == 3
    assert [b["number"] for b in whole["battles"]] == [1, 2, 3]
    newest = client.get("/history?limit=2").json()
    assert [b["number"] for b in newest["battles"]] == [2, 3] and newest["page"]["pages"] == 2
    assert [b["number"] for b in client.get("/history?limit=2&page=2").json()["battles"]] == [1]
    assert client.get("/history/battles/2").json() == whole["battles"][1]
    bad = client.get("/history?limit=abc")
    assert bad.status_code == 400 and "limit" in bad.json()["error"]
    assert client.get("/history/battles/9").status_code == 404


def test_the_samples_summaries_of_an_env_and_of_a_miner(client: httpx.Client) -> None:
    sat = client.get("/envs/SAT/samples-summary").json()
    assert sat["env"] == "SAT" and sat["pool"] == 1 and sat["samples"] == sat["scored"] > 0
    by_miner = {m["hotkey"]: m for m in sat["miners"]}
    assert set(by_miner) == {"champ", "chal", "weak", "late"}
    assert by_miner["late"]["samples"] == 2 and by_miner["late"]["mean_score"] == 1.0
    assert sum(by_miner["late"]["score_counts"]) == 2
    late = client.get(f"/miners/{LATE_UID}/samples-summary").json()
    assert late["hotkey"] == "late" and late["envs"]["SAT"]["samples"] == 2
    assert sum(late["latency_histogram"]["counts"]) == late["samples"] == 2
    idle = client.get("/miners/idle/samples-summary").json()
    assert idle["samples"] == 0 and idle["envs"] == {}
    assert client.get("/miners/late/battles").json()["battles"][0]["role"] == "challenger"
    assert client.get("/envs/NOPE/samples-summary").status_code == 404


def test_a_miners_battles_are_paged_with_links_to_the_older_ones(client: httpx.Client) -> None:
    first = client.get("/dashboard/miners/chal?limit=1").text
    assert "Page 1 of 3" in first and 'href="/dashboard/miners/chal?page=2&amp;limit=1"' in first
    assert 'data-src="/miners/chal/battles?limit=1"' in first


def test_the_weight_submissions_are_listed_with_their_vectors(client: httpx.Client) -> None:
    listed = client.get("/weights/submissions").json()
    assert listed["page"]["total"] == 1
    [only] = listed["submissions"]
    assert only["number"] == 1 and only["block"] == 7 and only["ok"] is True
    assert only["u16"] and only["weights"]


def test_an_empty_log_gets_clear_pages_not_errors() -> None:
    empty = Driver()
    app = status_app(lambda: empty.reads, heartbeat=Heartbeat())
    with StatusServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as c:
        overview = c.get("/dashboard")
        assert overview.status_code == 200 and "No champion yet" in overview.text
        assert "No task pool drawn yet" in overview.text
        reigns = c.get("/dashboard/reigns")
        assert reigns.status_code == 200 and "No reign yet" in reigns.text
        for path in ("/dashboard/weights", "/dashboard/audit", "/dashboard/envs/SAT"):
            assert c.get(path).status_code == 200, path
        assert c.get("/dashboard/miners/1").status_code == 404
        assert "throne audit export" in c.get("/dashboard/audit").text
