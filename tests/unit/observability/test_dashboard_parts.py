"""The dashboard's parts on their own: number formats (the same as the page's script writes),
the marks that tie a value to its JSON, the charts, and paging."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from throne.observability.dashboard import svg
from throne.observability.dashboard.formats import fixed, show
from throne.observability.dashboard.html import bound, col, entries, fill_href, get, live_table
from throne.views.paging import BadPage, Page, battle, paged_history
from throne.views.samples import histogram, latency_edges, percentiles, score_edges

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("x", "places", "text"),
    [
        (6.25, 1, "6.3"),  # a tie rounds away from zero, as JavaScript's toFixed does
        (-6.25, 1, "-6.3"),
        (0.125, 2, "0.13"),
        (2.675, 2, "2.67"),  # 2.675 is 2.67499999... in binary: no tie, as in JavaScript
        (-0.0, 1, "0.0"),
        (-0.04, 1, "-0.0"),
        (95.45454545454547, 1, "95.5"),
    ],
)
def test_fixed_rounds_as_the_browsers_script_does(x: float, places: int, text: str) -> None:
    assert fixed(x, places) == text


def test_each_format_writes_missing_values_and_booleans_the_same_way() -> None:
    assert show(None, "pct") == "—" and show(True) == "yes" and show(False, "int") == "no"
    assert show(0.0625, "pct") == "6.3%" and show(0.95, "weight") == "0.9500"
    assert show(1234, "ms") == "1234 ms" and show([[0, 3449]], "json") == "[[0,3449]]"
    assert show("9779256dac8e747c", "short") == "9779256dac8e…"


def test_object_keys_that_are_indexes_come_first_as_in_javascript() -> None:
    assert [k for k, _ in entries({"6": 0.95, "0": 0.05, "b": 1, "01": 2})] == [
        "0",
        "6",
        "b",
        "01",
    ]
    assert entries(None) == [] and entries([7, 8]) == [("0", 7), ("1", 8)]


def test_a_bound_value_carries_its_path_format_and_exact_json() -> None:
    data = {"champion": {"hotkey": "a b/c", "cells": {"SAT": {"mean": 0.25}}}}
    html = bound(data, "champion.cells.SAT.mean", "pct", tag="td")
    assert html == (
        '<td data-path="champion.cells.SAT.mean" data-format="pct" data-value=\'0.25\'>25.0%</td>'
    )
    link = bound(data, "champion.hotkey", href="/dashboard/miners/{champion.hotkey}")
    assert 'href="/dashboard/miners/a%20b%2Fc"' in link and ">a b/c</a>" in link
    assert get(data, "champion.nothing.here") is None and get([1, 2], "5") is None


def test_values_are_escaped_in_text_and_attributes() -> None:
    data = {"reason": "<script>'x'</script>"}
    html = bound(data, "reason")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert fill_href("/m/{reason}", data, "") == "/m/%3Cscript%3E%27x%27%3C%2Fscript%3E"


def test_a_live_table_has_a_row_per_entry_and_a_template_of_relative_paths() -> None:
    data = {"queue": [{"position": 1, "hotkey": "a"}, {"position": 2, "hotkey": "b"}]}
    html = live_table(
        data,
        "queue",
        ["#", "Hotkey"],
        [col("position", "int"), col("hotkey")],
        caption="Queue",
        empty="Nobody.",
    )
    assert html.count('data-base="queue.') == 2 and 'data-path="queue.1.hotkey"' in html
    template = html[html.index("<template>") : html.index("</template>")]
    assert 'data-path="position"' in template and "queue." not in template
    empty = live_table(
        {"queue": []}, "queue", ["#"], [col("position")], caption="Q", empty="Nobody."
    )
    assert "Nobody." in empty and 'data-columns="1"' in empty


def _parse(chart: str) -> ET.Element:
    return ET.fromstring(chart)


def test_charts_are_well_formed_svg_with_a_title_and_escaped_labels() -> None:
    spans = [svg.Span(10, 20, "<a&b>", "/dashboard/battles/1"), svg.Span(20, None, "now")]
    charts = [
        svg.bars([("ok", 3.0), ("model <error>", 1.0)], title="Outcomes", fmt="int"),
        svg.bars([], title="Nothing"),
        svg.histogram([0.0, 0.5, 1.0], [2, 5], title="Scores", x_label="score", fmt="score"),
        svg.timeline([("reigns", spans)], title="Reigns", start=10, end=30),
        svg.step_lines(
            [("UID 6", [(5, 0.95), (9, 0.0)])],
            [svg.Mark(5, True, "landed", "#s-1"), svg.Mark(9, False, "failed", "#s-2")],
            title="Weights",
            start=5,
            end=9,
        ),
    ]
    for chart in charts:
        root = _parse(chart)
        assert root.tag == f"{SVG}svg" and root.find(f"{SVG}title") is not None
    timeline = _parse(charts[3])
    links = timeline.findall(f".//{SVG}a")
    assert [a.get("href") for a in links] == ["/dashboard/battles/1"]
    assert "<a&b>" in "".join(timeline.itertext())


def test_the_timeline_ticks_are_round_blocks_within_the_span() -> None:
    ticks = svg._ticks(7, 1234)
    assert ticks[0] >= 7 and ticks[-1] <= 1234 and len(ticks) <= 7
    assert all(t % (ticks[1] - ticks[0]) == 0 for t in ticks)


def test_a_page_holds_the_newest_items_and_keeps_their_order() -> None:
    items = list(range(1, 11))
    assert Page(1, 4).of(items) == [7, 8, 9, 10]
    assert Page(2, 4).of(items) == [3, 4, 5, 6]
    assert Page(3, 4).of(items) == [1, 2]
    assert Page(4, 4).of(items) == []
    assert Page(1, 4).describe(10) == {"page": 1, "limit": 4, "pages": 3, "total": 10}


@pytest.mark.parametrize(
    ("page", "limit"), [("0", None), ("x", None), (None, "0"), (None, "1001"), ("-1", "5")]
)
def test_a_page_or_limit_out_of_bounds_is_refused(page: str | None, limit: str | None) -> None:
    with pytest.raises(BadPage):
        Page.parse(page, limit)


def test_battles_are_numbered_across_pages_and_found_by_number() -> None:
    history = {
        "netuid": 120,
        "battles_decided": 3,
        "reigns": [{"hotkey": "a"}],
        "battles": [{"challenger": c} for c in "xyz"],
        "terminated": [],
        "operator_actions": [],
    }
    second = paged_history(history, Page(2, 2))
    assert second["battles"] == [{"number": 1, "challenger": "x"}]
    assert second["page"] == {
        "page": 2,
        "limit": 2,
        "pages": 2,
        "totals": {"reigns": 1, "battles": 3, "terminated": 0, "operator_actions": 0},
    }
    assert battle(history, 3) == {"number": 3, "challenger": "z"}
    assert battle(history, 0) is None and battle(history, 4) is None


def test_percentiles_are_latencies_a_sample_had() -> None:
    assert percentiles([50, 10, 40, 30, 20]) == {"p50": 30, "p90": 50, "p99": 50, "max": 50}
    assert percentiles([7]) == {"p50": 7, "p90": 7, "p99": 7, "max": 7}
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None, "max": None}


def test_a_histogram_counts_every_value_once_and_an_inner_edge_goes_up() -> None:
    edges = score_edges([0.0, 1.0])
    assert edges[0] == 0.0 and edges[-1] == 1.0 and len(edges) == 11
    counts = histogram([0.0, 0.3, 0.3, 1.0, 1.0], edges)
    assert sum(counts) == 5 and counts[3] == 2 and counts[-1] == 2
    assert score_edges([-0.5, 2.0])[0] == -0.5 and score_edges([-0.5, 2.0])[-1] == 2.0
    assert latency_edges([])[-1] == 1.0 and histogram([], [0.0]) == []
