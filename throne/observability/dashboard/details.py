"""The miner page (its record from ``/miners/{who}``, its scores against the thresholds from
``/rank``, its samples from ``/miners/{who}/samples-summary``, its battles from
``/miners/{who}/battles``) and the env page (``/envs/{name}/samples-summary``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from throne.observability.dashboard import svg
from throne.observability.dashboard.html import (
    bound,
    definition_list,
    env_href,
    esc,
    link,
    pager,
    table,
)

#: how many miners' score distributions the env page draws (the table lists them all)
CHARTED_MINERS = 8
LATENCY = ("p50", "p90", "p99", "max")


def miner(
    found: dict[str, Any],
    rank: dict[str, Any],
    samples: dict[str, Any],
    battles: dict[str, Any],
    battles_src: str,
) -> str:
    """``battles_src``: the JSON route of ``battles`` (its page)."""
    hotkey = str(found["hotkey"])
    who = quote(hotkey, safe="")
    record = definition_list(
        [
            ("Hotkey", bound(found, "hotkey", cls="mono")),
            ("UID", bound(found, "uid", "int")),
            ("Model", bound(found, "model")),
            ("Revision", bound(found, "revision", cls="mono")),
            ("Committed at block", bound(found, "first_block", "int")),
            ("Model hash", bound(found, "model_hash", "short", cls="mono")),
            ("Status", bound(found, "status")),
            ("Valid", bound(found, "valid")),
            ("Why invalid", bound(found, "invalid_reason")),
            ("Why terminated", bound(found, "terminated_reason")),
            ("Blacklisted", bound(found, "blacklisted")),
            ("Queue position", bound(found, "queue_position", "int")),
            ("Releases", bound(found, "releases", "int")),
            ("Weight", bound(found, "weight", "weight")),
        ]
    )
    return (
        f'<section data-src="/miners/{esc(who)}" aria-labelledby="record-h">'
        f'<h2 id="record-h">Commitment and status</h2>{record}</section>'
        f"{_scores(rank, hotkey)}{_samples(samples, who)}{_battles(battles, battles_src)}"
        f"{_events(found, who)}"
    )


def _scores(rank: dict[str, Any], hotkey: str) -> str:
    index = next((i for i, r in enumerate(rank["rows"]) if r["hotkey"] == hotkey), None)
    rows = []
    if index is not None:
        for env in rank["envs"]:
            base = f"rows.{index}.cells.{env}."
            rows.append(
                f'<tr><th scope="row">{link(env_href(env), esc(env))}</th>'
                + bound(rank, "mean", "pct", tag="td", cls="num", base=base)
                + bound(rank, "n", "int", tag="td", cls="num", base=base)
                + bound(rank, "lower", "pct", tag="td", cls="num", base=base)
                + bound(rank, "upper", "pct", tag="td", cls="num", base=base)
                + "</tr>"
            )
    scores = table(
        "Means on the current pool (a challenger's against the champion's bounds; a "
        "terminated one's as its verdict left them)",
        ["Env", "Mean", "Samples", "Not worse ≥", "Dominant >"],
        rows,
        empty="No score on the current pool.",
    )
    return (
        f'<section data-src="/rank" aria-labelledby="scores-h"><h2 id="scores-h">Scores '
        f"against the thresholds</h2>{scores}</section>"
    )


def _samples(s: dict[str, Any], who: str) -> str:
    hist = s["latency_histogram"]
    chart = (
        svg.histogram(
            hist["edges"],
            hist["counts"],
            title="Latency of its recent samples",
            x_label="latency (ms)",
            fmt="int",
        )
        if s["samples"]
        else "<p>No sample of the current pool yet.</p>"
    )
    rows = []
    for env in s["envs"]:
        rows.append(_stats_row(s, f"envs.{env}.", link(env_href(env), esc(env))))
    per_env = table(
        "Recent samples per env",
        ["Env", "Samples", "Scored", "Mean score", *LATENCY, "ok", "model error", "infra error"],
        rows,
        empty="No sample yet.",
    )
    return (
        f'<section data-src="/miners/{esc(who)}/samples-summary" aria-labelledby="samples-h">'
        f'<h2 id="samples-h">Samples (pool {bound(s, "pool", "int")}, the newest '
        f"{bound(s, 'per_env_limit', 'int')} per env)</h2><figure>{chart}<figcaption>"
        f"{bound(s, 'samples', 'int')} samples; median latency "
        f"{bound(s, 'latency_ms.p50', 'ms')}.</figcaption></figure>{per_env}</section>"
    )


def _stats_row(data: dict[str, Any], base: str, header: str) -> str:
    return (
        f'<tr><th scope="row">{header}</th>'
        + bound(data, "samples", "int", tag="td", cls="num", base=base)
        + bound(data, "scored", "int", tag="td", cls="num", base=base)
        + bound(data, "mean_score", "score", tag="td", cls="num", base=base)
        + "".join(
            bound(data, f"latency_ms.{p}", "ms", tag="td", cls="num", base=base) for p in LATENCY
        )
        + "".join(
            bound(data, f"outcomes.{o}", "int", tag="td", cls="num", base=base)
            for o in ("ok", "model_error", "infra_error")
        )
        + "</tr>"
    )


def _battles(b: dict[str, Any], src: str) -> str:
    rows = []
    for i, _ in enumerate(b["battles"]):
        base = f"battles.{i}."
        rows.append(
            "<tr>"
            + bound(
                b,
                "number",
                "int",
                tag="td",
                cls="num",
                base=base,
                href="/dashboard/battles/{number}",
            )
            + bound(b, "role", tag="td", base=base)
            + bound(b, "challenger", tag="td", base=base, href="/dashboard/miners/{challenger}")
            + bound(b, "champion", tag="td", base=base, href="/dashboard/miners/{champion}")
            + bound(b, "started_block", "int", tag="td", cls="num", base=base)
            + bound(b, "ended_block", "int", tag="td", cls="num", base=base)
            + bound(b, "result", tag="td", base=base)
            + bound(b, "reason", tag="td", base=base)
            + "</tr>"
        )
    listed = table(
        "Its battles, oldest first",
        ["Battle", "As", "Challenger", "Champion", "Started", "Ended", "Result", "Reason"],
        rows,
        empty="No battle.",
    )
    here = f"/dashboard/miners/{quote(str(b['hotkey']), safe='')}"
    pages = pager(here, b["page"]) if b["page"]["pages"] > 1 else ""
    return (
        f'<section data-src="{esc(src)}" aria-labelledby="battles-h">'
        f'<h2 id="battles-h">Battles</h2>{pages}{listed}</section>'
    )


def _events(found: dict[str, Any], who: str) -> str:
    rows = [
        "<tr>"
        + bound(found, "event", tag="td", base=f"events.{i}.")
        + bound(found, "block", "int", tag="td", cls="num", base=f"events.{i}.")
        + "</tr>"
        for i, _ in enumerate(found.get("events") or [])
    ]
    listed = table("What the log says of it, in order", ["Event", "Block"], rows, empty="Nothing.")
    return (
        f'<section data-src="/miners/{esc(who)}" aria-labelledby="events-h">'
        f'<h2 id="events-h">Events</h2>{listed}</section>'
    )


def env(s: dict[str, Any], src: str) -> str:
    facts = definition_list(
        [
            ("Pool", bound(s, "pool", "int")),
            (
                "Samples kept",
                f"{bound(s, 'samples', 'int')} (the newest "
                f"{bound(s, 'per_env_limit', 'int')} of the pool at most)",
            ),
            ("Scored", bound(s, "scored", "int")),
            ("Mean score", bound(s, "mean_score", "score")),
            *[(f"Latency {p}", bound(s, f"latency_ms.{p}", "ms")) for p in LATENCY],
        ]
    )
    outcomes = s["outcomes"]
    outcome_chart = svg.bars(
        [(name.replace("_", " "), float(n)) for name, n in outcomes.items()],
        title="Outcomes of the recent samples",
        fmt="int",
    )
    outcome_rows = [
        f'<tr><th scope="row">{esc(name)}</th>'
        + bound(s, f"outcomes.{name}", "int", tag="td", cls="num")
        + "</tr>"
        for name in outcomes
    ]
    miners = s["miners"]
    charts = []
    for i, m in enumerate(miners[:CHARTED_MINERS]):
        charts.append(
            "<figure>"
            + svg.histogram(
                s["score_edges"],
                m["score_counts"],
                title=f"Scores of {m['hotkey']}",
                x_label="score",
                fmt="score",
            )
            + f"<figcaption>{esc(m['hotkey'])}: {bound(s, f'miners.{i}.scored', 'int')} "
            f"scored, mean {bound(s, f'miners.{i}.mean_score', 'score')}.</figcaption></figure>"
        )
    rows = [
        _stats_row(
            s,
            f"miners.{i}.",
            bound(s, "hotkey", tag="a", base=f"miners.{i}.", href="/dashboard/miners/{hotkey}"),
        )
        for i, _ in enumerate(miners)
    ]
    per_miner = table(
        "Per miner (newest pool), most samples first",
        ["Miner", "Samples", "Scored", "Mean score", *LATENCY, "ok", "model error", "infra error"],
        rows,
        empty="No sample of the current pool yet.",
    )
    kinds = table("Outcomes", ["Outcome", "Samples"], outcome_rows, empty="None.")
    return (
        f'<div data-src="{esc(src)}">{facts}'
        f"<h2>Failure kinds</h2><figure>{outcome_chart}</figure>{kinds}"
        f"<h2>Score distribution per miner</h2>{''.join(charts) or '<p>No score yet.</p>'}"
        f"{per_miner}</div>"
    )
