"""The overview: the contest now, from ``/rank`` — champion, battle in progress, queue, recent
terminations, weights, the pool's seed commitment, the operator's pause and blacklist.

Live: ``static/live.js`` fetches ``/rank`` every `REFRESH_SECONDS` and refills every marked
value, list and shown-or-hidden part in place. The pool shows its number, block, sizes and
seed commitment only: ``/rank`` holds no task id and no unrevealed seed.
"""

from __future__ import annotations

from typing import Any

from throne.observability.dashboard.html import (
    bound,
    col,
    definition_list,
    esc,
    get,
    key_col,
    live_table,
    progress_col,
    shown_if,
)

REFRESH_SECONDS = 5
MINER = "/dashboard/miners/{hotkey}"


def overview(rank: dict[str, Any]) -> str:
    """The overview's ``<main>`` content for the `rank` view ``rank``."""
    r = rank
    parts = [
        f'<div data-src="/rank" data-live="{REFRESH_SECONDS}">',
        f'<div class="banner" role="status" {shown_if(r, "operations.paused_since_block")}>'
        "Paused by the operator since block "
        f"{bound(r, 'operations.paused_since_block', 'int')}: no step is taken and no work is "
        "owed until the operator resumes.</div>",
        f'<p class="live-status"><span>Block {bound(r, "block", "int")} · contest version '
        f"{bound(r, 'contest_version', 'int')} · netuid {bound(r, 'netuid', 'int')}.</span> "
        f'<span id="live-status">Refreshes every {REFRESH_SECONDS} s.</span></p>',
        '<div class="grid">',
        _champion(r),
        _pool(r),
        "</div>",
        _battle(r),
        '<div class="grid">',
        _queue(r),
        _terminations(r),
        "</div>",
        '<div class="grid">',
        _weights(r),
        _counts(r),
        "</div>",
        _blacklisted(r),
        _miners(r),
        "</div>",
    ]
    return "".join(parts)


def _champion(r: dict[str, Any]) -> str:
    facts = definition_list(
        [
            ("Hotkey", bound(r, "champion.hotkey", href="/dashboard/miners/{champion.hotkey}")),
            ("UID", bound(r, "champion.uid", "int")),
            ("Model", bound(r, "champion.model")),
            ("Revision", bound(r, "champion.revision", "short", cls="mono")),
            ("Since block", bound(r, "champion.since_block", "int")),
            ("Scored its pool", bound(r, "champion.complete")),
        ]
    )
    cells = live_table(
        r,
        "champion.cells",
        ["Env", "Mean", "Samples"],
        [key_col("/dashboard/envs/{@key}"), col("mean", "pct"), col("n", "int")],
        caption="The champion's means on the current pool",
        empty="No sample yet.",
    )
    completeness = live_table(
        r,
        "champion.completeness",
        ["Env", "Scored / needed"],
        [key_col(), progress_col("scored", "needed")],
        caption="The champion's scoring of the pool",
        empty="No pool yet.",
    )
    return (
        '<section class="card" aria-labelledby="champion-h"><h2 id="champion-h">Champion</h2>'
        f"<p {shown_if(r, 'champion', negate=True)}>No champion yet: the first valid miner is "
        "crowned once a task pool is drawn.</p>"
        f"<div {shown_if(r, 'champion')}>{facts}{cells}{completeness}</div></section>"
    )


def _pool(r: dict[str, Any]) -> str:
    facts = definition_list(
        [
            ("Pool", bound(r, "pool.pool", "int")),
            ("Drawn at block", bound(r, "pool.block", "int")),
            ("Seed commitment", bound(r, "pool.seed_commitment", cls="mono")),
        ]
    )
    sizes = live_table(
        r,
        "pool.sizes",
        ["Env", "Tasks"],
        [key_col(), col("", "int")],
        caption="Tasks per env",
        empty="No env.",
    )
    return (
        '<section class="card" aria-labelledby="pool-h"><h2 id="pool-h">Task pool</h2>'
        f"<p {shown_if(r, 'pool', negate=True)}>No task pool drawn yet.</p>"
        f'<div {shown_if(r, "pool")}>{facts}{sizes}<p class="muted">The seed commitment is '
        "the hash of the secret the pool derives from; the seed itself is revealed only when "
        "the pool is retired.</p></div></section>"
    )


def _battle(r: dict[str, Any]) -> str:
    facts = definition_list(
        [
            ("Challenger", bound(r, "battle.hotkey", href="/dashboard/miners/{battle.hotkey}")),
            ("UID", bound(r, "battle.uid", "int")),
            ("Model", bound(r, "battle.model")),
            ("Started at block", bound(r, "battle.started_block", "int")),
            ("Deadline block", bound(r, "battle.deadline_block", "int")),
            ("Rule", bound(r, "battle.rule")),
        ]
    )
    progress = live_table(
        r,
        "battle.progress",
        ["Env", "Compared / needed", "Champion", "Challenger", "Not worse ≥", "Dominant >"],
        [
            key_col("/dashboard/envs/{@key}"),
            progress_col("common", "needed"),
            col("champion_mean", "pct"),
            col("challenger_mean", "pct"),
            col("not_worse_threshold", "pct"),
            col("dominant_threshold", "pct"),
        ],
        caption="Progress per env toward the decision, against the champion's bounds",
        empty="No scoring env.",
    )
    evidence = definition_list(
        [
            (
                "Look",
                f"{bound(r, 'battle.evidence.look', 'int')} of "
                f"{bound(r, 'battle.evidence.looks', 'int')}",
            ),
            ("Statistic (z)", bound(r, "battle.evidence.statistic", "stat")),
            ("Dethrones at ≥", bound(r, "battle.evidence.bound", "stat")),
            ("Stops below", bound(r, "battle.evidence.futility_bound", "stat")),
            ("α", bound(r, "battle.evidence.alpha")),
        ]
    )
    per_env = live_table(
        r,
        "battle.evidence.envs",
        ["Env", "n", "Mean difference", "Standard error", "z", "So far"],
        [
            key_col(),
            col("n", "int"),
            col("diff", "score"),
            col("se", "score"),
            col("z", "stat"),
            col("outcome"),
        ],
        caption="The evidence per env",
        empty="No evidence yet.",
    )
    return (
        '<section class="card" aria-labelledby="battle-h"><h2 id="battle-h">Battle in progress'
        "</h2>"
        f"<p {shown_if(r, 'battle', negate=True)}>No battle in progress.</p>"
        f"<div {shown_if(r, 'battle')}>{facts}{progress}"
        f"<div {shown_if(r, 'battle.evidence')}><h3>Evidence</h3>{evidence}{per_env}</div>"
        "</div></section>"
    )


def _queue(r: dict[str, Any]) -> str:
    table = live_table(
        r,
        "queue",
        ["Position", "UID", "Hotkey", "Model", "First block", "Releases"],
        [
            col("position", "int"),
            col("uid", "int"),
            col("hotkey", href=MINER),
            col("model"),
            col("first_block", "int"),
            col("releases", "int"),
        ],
        caption="Challengers in the order they battle",
        empty="No challenger is waiting.",
    )
    return f'<section aria-labelledby="queue-h"><h2 id="queue-h">Queue</h2>{table}</section>'


def _terminations(r: dict[str, Any]) -> str:
    table = live_table(
        r,
        "recent_terminations",
        ["Block", "UID", "Hotkey", "Reason"],
        [col("block", "int"), col("uid", "int"), col("hotkey", href=MINER), col("reason")],
        caption="Newest first",
        empty="No termination yet.",
    )
    return (
        '<section aria-labelledby="terminations-h"><h2 id="terminations-h">Recent terminations'
        f"</h2>{table}</section>"
    )


def _weights(r: dict[str, Any]) -> str:
    table = live_table(
        r,
        "weights",
        ["UID", "Weight", ""],
        [key_col("/dashboard/miners/{@key}"), col("", "weight"), _meter],
        caption="The vector the contest gives now (UID 0 holds the burn)",
        empty="No weight.",
    )
    return (
        '<section aria-labelledby="weights-h"><h2 id="weights-h">Weights now</h2>'
        f'{table}<p><a href="/dashboard/weights">Every submission</a></p></section>'
    )


def _meter(data: Any, base: str, key: str) -> str:
    value = get(data, base.rstrip(".")) if data is not None else None
    attrs = "" if value is None else f' value="{esc(value)}"'
    return f'<td><meter min="0" max="1" data-bind-value=""{attrs} aria-hidden="true"></meter></td>'


def _counts(r: dict[str, Any]) -> str:
    facts = definition_list(
        [
            ("Miners", bound(r, "counts.miners", "int")),
            ("Valid", bound(r, "counts.valid", "int")),
            ("Invalid", bound(r, "counts.invalid", "int")),
            ("Queued", bound(r, "counts.queued", "int")),
            ("Terminated", bound(r, "counts.terminated", "int")),
            ("Burn", bound(r, "operations.burn", "weight")),
        ]
    )
    return (
        '<section class="card" aria-labelledby="counts-h"><h2 id="counts-h">Miners</h2>'
        f"{facts}</section>"
    )


def _blacklisted(r: dict[str, Any]) -> str:
    table = live_table(
        r,
        "blacklisted",
        ["UID", "Hotkey", "Reason"],
        [col("uid", "int"), col("hotkey", href=MINER), col("reason")],
        caption="Blacklisted by the operator",
        empty="None.",
    )
    return (
        f'<section aria-labelledby="blacklist-h" {shown_if(r, "blacklisted")}>'
        f'<h2 id="blacklist-h">Blacklisted miners</h2>{table}</section>'
    )


def _miners(r: dict[str, Any]) -> str:
    envs = [str(e) for e in r.get("envs", [])]
    table = live_table(
        r,
        "rows",
        ["UID", "Hotkey", "Status", *envs, "Weight", "Reason"],
        [
            col("uid", "int"),
            col("hotkey", href=MINER),
            col("label"),
            *[col(f"cells.{env}.mean", "pct") for env in envs],
            col("weight", "weight"),
            col("reason"),
        ],
        caption="Champion first, then the miners still in the contest, then the rest",
        empty="No miner has committed yet.",
    )
    return f'<section aria-labelledby="rows-h"><h2 id="rows-h">Every miner</h2>{table}</section>'
