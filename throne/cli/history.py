"""`throne history`: the reigns — who held the crown from which block to which, and how."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from throne import views
from throne.cli.reads import add_read_options, read
from throne.cli.tables import console, opt, print_json, short, verdict_line


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "history",
        help="show the reigns: who held the crown from which block to which, and how",
        description=(
            "Show the reigns folded from the event log: each champion, the blocks it held the "
            "crown, how it took it (cold start, or dethroning with the verdict's numbers: "
            "challenger vs champion mean per env, over the common tasks) and how it lost it. "
            "--battles adds every battle with its result. Operator actions (blacklists, the "
            "burn, pool rotations, pauses) are listed with their stated reasons."
        ),
    )
    add_read_options(p)
    p.add_argument("--battles", action="store_true", help="also list every battle")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    data = read(args.db, args.netuid, views.history)
    if args.json:
        print_json(data)
    else:
        render(data, with_battles=args.battles)
    return 0


def render(data: Mapping[str, Any], with_battles: bool = False) -> None:
    out = console()
    if not data["reigns"]:
        out.print("No champion has been crowned yet.")
    else:
        out.print(_reigns_table(data["reigns"]))
    if with_battles and data["battles"]:
        out.print(_battles_table(data["battles"]))
    actions = data.get("operator_actions") or []
    if actions:
        out.print(_operator_table(actions))
    out.print(
        f"Reigns: {len(data['reigns'])}  |  Battles decided: {data['battles_decided']}"
        + (f"  |  Operator actions: {len(actions)}" if actions else "")
    )


def _operator_table(actions: list[dict[str, Any]]) -> Table:
    table = Table(title="Operator actions", title_justify="left")
    for name in ("Block", "Action", "Of", "Reason"):
        table.add_column(name)
    for a in actions:
        what = a["action"] if a["burn"] is None else f"{a['action']} {a['burn']:g}"
        table.add_row(str(a["block"]), what, opt(a["hotkey"] and short(a["hotkey"])), a["reason"])
    return table


def _reigns_table(reigns: list[dict[str, Any]]) -> Table:
    table = Table(title="Reigns", title_justify="left")
    for name in ("#", "UID", "Hotkey", "Model", "From", "To", "Took the crown", "Lost it"):
        table.add_column(name)
    for i, r in enumerate(reigns, start=1):
        table.add_row(
            str(i),
            opt(r["uid"]),
            short(r["hotkey"]),
            opt(r["model"]),
            str(r["from_block"]),
            "now" if r["to_block"] is None else str(r["to_block"]),
            _taken(r["taken_by"]),
            _ended(r["ended_by"]),
        )
    return table


def _taken(taken: Mapping[str, Any]) -> str:
    if taken["how"] == "cold_start":
        return "cold start"
    return f"beat {short(taken['from'])} ({verdict_line(taken['verdict'])})"


def _ended(ended: Mapping[str, Any] | None) -> str:
    if ended is None:
        return "-"
    if ended["how"] == "dethroned":
        return f"dethroned by {short(ended['by'])}"
    return f"terminated: {ended['reason']}"


def _battles_table(battles: list[dict[str, Any]]) -> Table:
    table = Table(title="Battles", title_justify="left")
    for name in ("Challenger", "UID", "Champion", "Pool", "Started", "Ended", "Result", "Reason"):
        table.add_column(name)
    for b in battles:
        table.add_row(
            short(b["challenger"]),
            opt(b["uid"]),
            short(b["champion"]),
            str(b["pool"]),
            str(b["started_block"]),
            opt(b["ended_block"]),
            b["result"],
            opt(b["reason"]),
        )
    return table
