"""The reigns page (a timeline of reigns and battles over blocks, from ``/history``) and the
battle page (one battle's verdict per env, from ``/history/battles/{n}``)."""

from __future__ import annotations

from typing import Any

from throne.observability.dashboard import svg
from throne.observability.dashboard.html import (
    battle_href,
    bound,
    definition_list,
    env_href,
    esc,
    get,
    link,
    miner_href,
    pager,
    table,
)

RESULT_COLOURS = {"dethroned": svg.GOOD, "terminated": svg.BAD}


def reigns(history: dict[str, Any], head_block: int | None, src: str) -> str:
    """``history``: a page of `paged_history`; ``head_block``: the newest block the contest
    names (where an open reign or battle ends on the chart); ``src``: the JSON route."""
    h = history
    battles: list[dict[str, Any]] = h["battles"]
    reign_list: list[dict[str, Any]] = h["reigns"]
    blocks = [int(x["from_block"]) for x in reign_list] + [int(b["started_block"]) for b in battles]
    ends = [int(x["to_block"]) for x in reign_list if x.get("to_block") is not None]
    ends += [int(b["ended_block"]) for b in battles if b.get("ended_block") is not None]
    start = min(blocks, default=0)
    end = max([*ends, *blocks, head_block or 0])
    reign_spans = [
        svg.Span(
            int(x["from_block"]),
            x.get("to_block"),
            str(x["hotkey"]),
            miner_href(x["hotkey"]),
            svg.PALETTE[i % 4],
        )
        for i, x in enumerate(reign_list)
    ]
    battle_spans = [
        svg.Span(
            int(b["started_block"]),
            b.get("ended_block"),
            f"#{b['number']}",
            battle_href(b["number"]),
            RESULT_COLOURS.get(str(b["result"]), svg.NEUTRAL),
            f"battle {b['number']}: {b['challenger']} ({b['result']})",
        )
        for b in battles
    ]
    chart = (
        svg.timeline(
            [("reigns", reign_spans), ("battles", battle_spans)],
            title="Reigns and battles over blocks",
            start=start,
            end=end,
        )
        if reign_list or battles
        else "<p>No reign yet: no champion has been crowned.</p>"
    )
    page = h["page"]
    return (
        f'<div data-src="{esc(src)}">'
        f"<figure>{chart}<figcaption>Each reign from its crowning to its end; each battle from "
        "its start to its decision (green: dethroned, red: terminated, blue: released, "
        "abandoned or running). A battle is a link to its verdict.</figcaption></figure>"
        f"{pager('/dashboard/reigns', page)}"
        f"<h2>Reigns</h2>{_reigns_table(h)}"
        f"<h2>Battles</h2>{_battles_table(h)}"
        f"<h2>Terminations</h2>{_terminations_table(h)}"
        f"{_operator_table(h)}"
        "</div>"
    )


def _reigns_table(h: dict[str, Any]) -> str:
    rows = []
    for i in range(len(h["reigns"])):
        b = f"reigns.{i}."
        rows.append(
            "<tr>"
            + bound(h, "hotkey", tag="td", base=b, href="/dashboard/miners/{hotkey}")
            + bound(h, "uid", "int", tag="td", cls="num", base=b)
            + bound(h, "from_block", "int", tag="td", cls="num", base=b)
            + bound(h, "to_block", "int", tag="td", cls="num", base=b)
            + bound(h, "taken_by.how", tag="td", base=b)
            + bound(h, "taken_by.reason", tag="td", base=b)
            + bound(h, "ended_by.how", tag="td", base=b)
            + bound(h, "ended_by.by", tag="td", base=b)
            + "</tr>"
        )
    return table(
        "Reigns, oldest first",
        ["Champion", "UID", "From block", "To block", "Took it by", "Why", "Ended", "By"],
        rows,
        empty="No reign yet.",
    )


def _battles_table(h: dict[str, Any]) -> str:
    rows = []
    for i in range(len(h["battles"])):
        base = f"battles.{i}."
        rows.append(
            "<tr>"
            + bound(
                h,
                "number",
                "int",
                tag="td",
                cls="num",
                base=base,
                href="/dashboard/battles/{number}",
            )
            + bound(h, "challenger", tag="td", base=base, href="/dashboard/miners/{challenger}")
            + bound(h, "champion", tag="td", base=base)
            + bound(h, "started_block", "int", tag="td", cls="num", base=base)
            + bound(h, "ended_block", "int", tag="td", cls="num", base=base)
            + bound(h, "result", tag="td", base=base)
            + bound(h, "reason", tag="td", base=base)
            + "</tr>"
        )
    return table(
        "Battles, oldest first",
        ["Battle", "Challenger", "Champion", "Started", "Ended", "Result", "Reason"],
        rows,
        empty="No battle yet.",
    )


def _terminations_table(h: dict[str, Any]) -> str:
    rows = []
    for i, _ in enumerate(h["terminated"]):
        base = f"terminated.{i}."
        rows.append(
            "<tr>"
            + bound(h, "block", "int", tag="td", cls="num", base=base)
            + bound(h, "hotkey", tag="td", base=base, href="/dashboard/miners/{hotkey}")
            + bound(h, "uid", "int", tag="td", cls="num", base=base)
            + bound(h, "reason", tag="td", base=base)
            + "</tr>"
        )
    return table(
        "Terminations, oldest first",
        ["Block", "Hotkey", "UID", "Reason"],
        rows,
        empty="No termination yet.",
    )


def _operator_table(h: dict[str, Any]) -> str:
    actions = h["operator_actions"]
    if not actions:
        return ""
    keys = list(dict.fromkeys(k for a in actions for k in a))
    rows = [
        "<tr>"
        + "".join(bound(h, k, tag="td", base=f"operator_actions.{i}.") for k in keys)
        + "</tr>"
        for i, _ in enumerate(actions)
    ]
    return "<h2>Operator actions</h2>" + table(
        "The operator's actions, oldest first", keys, rows, empty="None."
    )


def battle(b: dict[str, Any], src: str) -> str:
    """One battle of the history (``/history/battles/{n}``): who fought, how it ended, and
    the verdict per env with the numbers it was decided on."""
    facts = definition_list(
        [
            ("Challenger", bound(b, "challenger", href="/dashboard/miners/{challenger}")),
            ("Revision", bound(b, "revision", "short", cls="mono")),
            ("UID", bound(b, "uid", "int")),
            ("Champion", bound(b, "champion", href="/dashboard/miners/{champion}")),
            ("Pool", bound(b, "pool", "int")),
            ("Started at block", bound(b, "started_block", "int")),
            ("Ended at block", bound(b, "ended_block", "int")),
            ("Result", bound(b, "result")),
            ("Reason", bound(b, "reason")),
            ("Winner", bound(b, "verdict.winner")),
        ]
    )
    per_env = get(b, "verdict.per_env") or {}
    rows = []
    for env in per_env:
        base = f"verdict.per_env.{env}."
        outcome = str(get(b, base + "verdict"))
        rows.append(
            f'<tr><th scope="row">{link(env_href(env), esc(env))}</th>'
            + bound(b, "verdict", tag="td", cls=f"verdict-{outcome}", base=base)
            + bound(b, "n", "int", tag="td", cls="num", base=base)
            + bound(b, "champion_mean", "pct", tag="td", cls="num", base=base)
            + bound(b, "challenger_mean", "pct", tag="td", cls="num", base=base)
            + bound(b, "not_worse_threshold", "pct", tag="td", cls="num", base=base)
            + bound(b, "dominant_threshold", "pct", tag="td", cls="num", base=base)
            + "</tr>"
        )
    verdict = table(
        "The verdict per env",
        ["Env", "Verdict", "Tasks", "Champion", "Challenger", "Not worse ≥", "Dominant >"],
        rows,
        empty="No verdict: the battle was released, abandoned, or is still running.",
    )
    back = link("/dashboard/reigns", "All reigns and battles")
    return f'<div data-src="{esc(src)}">{facts}<h2>Verdict</h2>{verdict}<p>{back}</p></div>'


def title_of(b: dict[str, Any]) -> str:
    return f"Battle {b['number']}: {b['challenger']} against {b.get('champion') or 'no champion'}"
