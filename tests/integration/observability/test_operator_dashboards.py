"""The operators' Prometheus and Grafana files (deploy/): Prometheus's config passes promtool,
the dashboard's queries are PromQL over metrics throne really serves at /metrics (and find
data in a real Prometheus scraping a status API), every metric throne defines is on the
dashboard, and Grafana's provisioning points at what the compose file mounts.

promtool and prometheus are Debian's ``prometheus`` package (``make prometheus-tools``);
without it those checks are skipped on a developer's machine and fail in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.contest import Driver
from tests.support.ports import free_port
from throne.observability.health import Heartbeat
from throne.observability.metrics import ThroneMetrics
from throne.observability.status_api import StatusServer, status_app

ROOT = Path(__file__).parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
PROMETHEUS = DEPLOY / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "throne.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "throne.yml"
#: series Prometheus makes itself for every scrape, which the dashboard may query too
PROMETHEUS_OWN = {"up"}
#: what Prometheus's client appends to a metric's name in its series
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")
#: Grafana's variables, as promtool is to see them
GRAFANA_DURATIONS = {"__rate_interval": "1m", "__interval": "15s", "__range": "6h"}
LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "atan2", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: its identifiers once strings, label
    matchers, ranges, label lists, offsets, numbers and Grafana's variables are taken out,
    less the functions (followed by a parenthesis) and the keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = LABEL_LISTS.sub(" ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    text = re.sub(r"(?<![\w:])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?", " ", text)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][\w:]*", text):
        if text[found.end() :].lstrip().startswith("(") or found.group() in KEYWORDS:
            continue
        names.add(found.group())
    return names


def family_of(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def panels() -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every query of the dashboard: its panels' and its variables'."""
    found = [
        (f"panel {p['title']!r} {t['refId']}", t["expr"])
        for p in panels()
        for t in p.get("targets", [])
    ]
    for variable in dashboard()["templating"]["list"]:
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        values = re.fullmatch(r"label_values\((.*),\s*\w+\)", text.strip())
        found.append((f"variable {variable['name']!r}", values.group(1) if values else text))
    return found


def promql_for_promtool(expr: str) -> str:
    """The query as Prometheus gets it from Grafana: durations for Grafana's own variables, and
    a match-anything regex for the dashboard's (they stand in ``=~`` matchers)."""
    expr = re.sub(r"\$\{?(__\w+)\}?", lambda m: GRAFANA_DURATIONS[m.group(1)], expr)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def yaml_file(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def debian_prometheus(program: str) -> str:
    """``promtool`` or ``prometheus`` of Debian's package: skipped where it is missing, but
    never in CI, which installs it (``make prometheus-tools``)."""
    found = shutil.which(program) or next(
        (p for p in (f"/usr/bin/{program}",) if os.access(p, os.X_OK)), None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{program} is missing: `make prometheus-tools` installs it")
        pytest.skip(f"{program} is missing: `make prometheus-tools` installs it")
    return found


@pytest.fixture(scope="module")
def promtool() -> str:
    return debian_prometheus("promtool")


def every_series(metrics: ThroneMetrics) -> None:
    """What the daemon observes, once each, so that every labelled metric has a series."""
    metrics.observe_sample("SAT", "ok", 0.4)
    metrics.observe_sample("ABD", "model_error", 2.0)
    metrics.observe_unscored("DED", "env_timeout")
    metrics.observe_failure("model_error")
    metrics.observe_tick(12, ["dethroned", "battle_started"], seconds=0.02)
    metrics.observe_champion(3)
    metrics.observe_weights(ok=True)
    metrics.observe_weights(ok=False)
    metrics.observe_projection_lag("standings", 4)
    metrics.observe_outage("sampler", active=True)
    metrics.observe_outage("sampler", active=False)
    metrics.observe_deployments({("champion", "ready"): 1, ("challenger", "deploying"): 1})
    metrics.observe_deploy_ready(42.0)
    metrics.observe_health_failure("challenger")


@pytest.fixture(scope="module")
def status_api() -> Iterator[StatusServer]:
    """A running status API whose metrics have every series observed."""
    metrics = ThroneMetrics()
    every_series(metrics)
    reads = Driver().reads
    app = status_app(lambda: reads, heartbeat=Heartbeat(), metrics=metrics)
    with StatusServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def served_metrics(status_api: StatusServer) -> str:
    """The exposition the status API serves at /metrics."""
    response = httpx.get(f"{status_api.url}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def test_the_prometheus_config_passes_promtool(promtool: str) -> None:
    ran = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_prometheus_scrapes_the_port_the_validator_serves_its_status_api_on() -> None:
    targets = [
        target
        for job in yaml_file(PROMETHEUS)["scrape_configs"]
        if job["job_name"] == "throne"
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["validator:9100"]
    ports = yaml_file(COMPOSE)["services"]["validator"]["ports"]
    assert any(p.endswith(":9100") for p in ports)


def test_every_dashboard_query_is_promql_that_promtool_accepts(
    promtool: str, tmp_path: Path
) -> None:
    found = queries()
    assert len(found) >= 20
    rules = [
        {"record": f"throne_dashboard:query_{i}", "expr": promql_for_promtool(expr)}
        for i, (_, expr) in enumerate(found)
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    ran = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    named = "\n".join(f"query_{i}: {where}" for i, (where, _) in enumerate(found))
    assert ran.returncode == 0, f"{ran.stdout}{ran.stderr}\n{named}"


def test_promtool_refuses_a_query_that_is_not_promql(promtool: str, tmp_path: Path) -> None:
    # What the check above relies on: a broken query fails it.
    path = tmp_path / "broken-rules.yml"
    rule = {"record": "throne_dashboard:broken", "expr": "sum by (env (rate(x[1m]))"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [rule]}]}))
    ran = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode != 0


def test_metric_names_are_read_out_of_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (env, le) (rate(a_seconds_bucket{env=~"$env", '
        'x="y z"}[$__rate_interval]))) / on (env) group_left (kind) b_total offset 5m '
        "* 1e3 > bool 0.5 and up"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "up"}
    assert metric_names("sum(rate(c_total[5m])) * 60") == {"c_total"}
    assert metric_names("d * on (x) group_right e") == {"d", "e"}


def test_every_metric_the_dashboard_queries_is_one_throne_serves(served_metrics: str) -> None:
    served = {
        sample.name
        for family in text_string_to_metric_families(served_metrics)
        for sample in family.samples
    }
    for where, expr in queries():
        names = metric_names(expr)
        assert names, f"{where} selects no metric: {expr}"
        unknown = names - served - PROMETHEUS_OWN
        assert not unknown, f"{where} queries {sorted(unknown)}, which /metrics does not serve"


def test_every_metric_throne_defines_is_on_the_dashboard(served_metrics: str) -> None:
    families = list(ThroneMetrics().registry.collect())
    assert len(families) >= 15
    served = {f.name: f for f in text_string_to_metric_families(served_metrics)}
    # A metric added to ThroneMetrics must be observed in every_series, or this cannot see it.
    unseen = [f.name for f in families if f.name not in served or not served[f.name].samples]
    assert not unseen, f"every_series observes nothing of {unseen}"
    on_dashboard = {family_of(n) for _, expr in queries() for n in metric_names(expr)}
    missing = sorted(f.name for f in families if f.name not in on_dashboard)
    assert not missing, f"no panel shows {missing}"


def test_the_panels_use_the_provisioned_data_source_and_do_not_overlap() -> None:
    uid = yaml_file(DATASOURCES)["datasources"][0]["uid"]
    taken: dict[tuple[int, int], str] = {}
    for panel in panels():
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["targets"], panel["title"]
            assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        for cell in (
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        ):
            assert cell not in taken, f"{panel['title']!r} overlaps {taken[cell]!r}"
            taken[cell] = panel["title"]
    for variable in dashboard()["templating"]["list"]:
        assert variable["datasource"]["uid"] == uid
    assert len({p["id"] for p in panels()}) == len(panels())


def test_the_data_source_is_the_compose_files_prometheus_at_its_scrape_interval() -> None:
    (source,) = yaml_file(DATASOURCES)["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert source["jsonData"]["timeInterval"] == yaml_file(PROMETHEUS)["global"]["scrape_interval"]
    prometheus = yaml_file(COMPOSE)["services"]["prometheus"]
    assert "127.0.0.1:9090:9090" in prometheus["ports"]


def grafana_mounts() -> dict[str, tuple[str, bool]]:
    """The grafana service's bind mounts: container path -> (path beside the compose file,
    read-only)."""
    mounts = {}
    for volume in yaml_file(COMPOSE)["services"]["grafana"]["volumes"]:
        source, target, *mode = volume.split(":")
        if source.startswith("./"):
            mounts[target] = (source, mode == ["ro"])
    return mounts


def host_path(container_path: str) -> Path:
    """Where a file Grafana reads in its container is in the repository, through the mounts."""
    for target, (source, _) in grafana_mounts().items():
        inside = PurePosixPath(container_path)
        if inside == PurePosixPath(target) or PurePosixPath(target) in inside.parents:
            return DEPLOY / source / inside.relative_to(target)
    raise AssertionError(f"grafana mounts nothing at {container_path}")


def test_grafanas_provisioning_is_mounted_read_only_and_finds_the_dashboard() -> None:
    mounts = grafana_mounts()
    assert mounts and all(read_only for _, read_only in mounts.values())
    assert host_path("/etc/grafana/provisioning/datasources/prometheus.yml") == DATASOURCES
    assert host_path("/etc/grafana/provisioning/dashboards/throne.yml") == PROVIDERS
    (provider,) = yaml_file(PROVIDERS)["providers"]
    assert provider["type"] == "file"
    assert host_path(f"{provider['options']['path']}/throne.json") == DASHBOARD
    home = yaml_file(COMPOSE)["services"]["grafana"]["environment"]
    assert host_path(home["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]) == DASHBOARD
    assert dashboard()["uid"] == "throne"


def test_every_query_has_data_in_a_real_prometheus_scraping_the_status_api(
    status_api: StatusServer, tmp_path: Path
) -> None:
    # Beyond names: each query's label matchers and groupings find the series throne serves.
    # Prometheus holds seconds of data here, so every range is cut to a few scrapes.
    binary = debian_prometheus("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "throne",
                "static_configs": [{"targets": [f"127.0.0.1:{status_api.port}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    command = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    short = {
        where: re.sub(r"\[[^\]]+\]", "[10s]", promql_for_promtool(expr))
        for where, expr in queries()
    }
    empty = set(short)
    with (
        (tmp_path / "prometheus.log").open("wb") as log,
        subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT) as prometheus,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        try:
            deadline = time.monotonic() + 60
            while empty and time.monotonic() < deadline and prometheus.poll() is None:
                time.sleep(0.5)
                for where in sorted(empty):
                    try:
                        answer = client.get("/api/v1/query", params={"query": short[where]})
                    except httpx.TransportError:
                        break  # not listening yet
                    assert answer.status_code == 200, f"{where}: {answer.text}"
                    if answer.json()["data"]["result"]:
                        empty.discard(where)
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)
    logged = (tmp_path / "prometheus.log").read_text()[-2000:]
    assert not empty, f"no data for {sorted(empty)}; Prometheus said: {logged}"
