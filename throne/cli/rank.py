"""`throne rank`: the champion, the battle in progress, the queue and recent terminations."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from throne import views
from throne.cli.reads import add_read_options, read
from throne.cli.tables import console, env_cell, opt, pct, print_json, short, who


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "rank",
        help="show the champion, the battle in progress, the queue and recent terminations",
        description=(
            "Show the contest as the event log holds it: the champion and since when, the "
            "battle in progress with its per-env progress against the thresholds, the task "
            "pool's commitment (never its seed or task ids), the queue with positions, recent "
            "terminations with reasons, and one row per miner. An env cell reads "
            "mean[not-worse bound,dominant bound]/samples, in percent."
        ),
    )
    add_read_options(p)
    p.add_argument("--reason", action="store_true", help="add a column with each miner's reason")
    p.add_argument(
        "--recent",
        type=int,
        default=10,
        metavar="N",
        help="how many recent terminations to list (default: 10)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from throne.app import deployed_hotkeys

    data = read(
        args.db,
        args.netuid,
        lambda reads: views.rank(reads, recent=args.recent, deployed=deployed_hotkeys(reads)),
    )
    if args.json:
        print_json(data)
    else:
        render(data, with_reason=args.reason)
    return 0


def render(data: Mapping[str, Any], with_reason: bool = False) -> None:
    out = console()
    title = f"CHAMPION CHALLENGE RANKING - Block {opt(data['block'])}"
    out.print(f"[bold]{title}[/]  (netuid {data['netuid']})")
    ops = data.get("operations") or {}
    if ops.get("paused_since_block") is not None:
        out.print(
            f"[bold]PAUSED[/] by the operator since block {ops['paused_since_block']}: "
            "no step is taken and no work is owed"
        )
    if ops.get("burn_set_by_operator"):
        out.print(f"Burn:       {ops['burn']:g}, set by the operator")
    if ops.get("pool_rotation_ordered"):
        out.print("Task pool:  a new pool is drawn at the next step (ordered by the operator)")
    champ, battle, pool = data["champion"], data["battle"], data["pool"]
    if champ is None:
        out.print("Champion:   (none)")
    else:
        state = "" if champ["complete"] else "  (scoring the pool: " + _completeness(champ) + ")"
        out.print(f"Champion:   {who(champ)}  since block {champ['since_block']}{state}")
    if battle is None:
        out.print("Battle:     idle")
    else:
        out.print(
            f"Battle:     {who(battle)}  started @ block {battle['started_block']}"
            f"  (deadline @ block {battle['deadline_block']})"
        )
    if pool is None:
        out.print("Task pool:  none drawn yet")
    else:
        sizes = ", ".join(f"{env} {n}" for env, n in pool["sizes"].items())
        out.print(
            f"Task pool:  #{pool['pool']} refreshed @ block {pool['block']}  ({sizes})"
            f"  seed commitment {pool['seed_commitment'][:16]}..."
        )
    if battle is not None:
        out.print(_progress_table(battle))
        evidence = battle.get("evidence")
        if evidence:
            out.print(_evidence_line(battle.get("rule"), evidence))
    out.print(_rows_table(data, with_reason))
    if data["recent_terminations"]:
        out.print("Recent terminations:")
        for t in data["recent_terminations"]:
            out.print(
                f"  @ block {t['block']}  UID {opt(t['uid'])}  {short(t['hotkey'])}  {t['reason']}"
            )
    if data.get("blacklisted"):
        out.print("Blacklisted by the operator:")
        for b in data["blacklisted"]:
            out.print(f"  UID {opt(b['uid'])}  {short(b['hotkey'])}  {b['reason']}")
    c = data["counts"]
    head = data["queue"][0]["uid"] if data["queue"] else "-"
    out.print(
        f"Total: {c['miners']}  |  Champion: {opt(champ and champ['uid'])}  |  "
        f"Battle: {opt(battle and battle['uid'])}  |  Queue head: {head}  |  "
        f"Valid: {c['valid']}  |  Invalid: {c['invalid']}"
    )


def _completeness(champ: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{env} {c['scored']}/{c['needed']}" for env, c in champ["completeness"].items()
    )


def _evidence_line(rule: str | None, ev: Mapping[str, Any]) -> str:
    """Where a sequential battle stands: the last look, its statistic against the bound that
    dethrones and the one below which it stops."""
    if not ev.get("look"):
        return f"Evidence:   {rule}: no look yet (the first at 1/{ev['looks']} of each env)"
    stat, bound, stop = ev.get("statistic"), ev.get("bound"), ev.get("futility_bound")
    parts = [f"look {ev['look']}/{ev['looks']}"]
    if stat is not None:
        parts.append(f"z {stat:.2f}, dethrones at >= {bound:.2f}")
    if stop is not None:
        parts.append(f"stops below {stop:.2f}")
    parts.append(f"alpha {ev['alpha']:g}")
    return f"Evidence:   {rule}: " + ", ".join(parts)


def _progress_table(battle: Mapping[str, Any]) -> Table:
    table = Table(title="Battle progress", title_justify="left")
    for name in ("Env", "Common", "Champion", "Challenger", "Not worse ≥", "Dominant >"):
        table.add_column(name, justify="left" if name == "Env" else "right")
    for env, p in battle["progress"].items():
        known = p["common"] > 0
        table.add_row(
            env,
            f"{p['common']}/{p['needed']}",
            pct(p["champion_mean"]) if known else "-",
            pct(p["challenger_mean"]) if known else "-",
            pct(p["not_worse_threshold"]) if known else "-",
            pct(p["dominant_threshold"]) if known else "-",
        )
    return table


def _rows_table(data: Mapping[str, Any], with_reason: bool) -> Table:
    table = Table()
    table.add_column("⚡")  # deployed now
    for name in ("Hotkey", "UID", "Model", "Revision", *data["envs"], "Status"):
        table.add_column(name)
    if with_reason:
        table.add_column("Reason")
    table.add_column("Weight", justify="right")
    for row in data["rows"]:
        cells = [env_cell(row["cells"].get(env)) for env in data["envs"]]
        reason = [opt(row["reason"])] if with_reason else []
        table.add_row(
            "⚡" if row.get("deployed") else "",
            short(row["hotkey"]),
            opt(row["uid"]),
            opt(row["model"]),
            short(row["revision"]),
            *cells,
            row["label"],
            *reason,
            f"{row['weight']:.4f}",
        )
    return table
