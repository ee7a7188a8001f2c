"""`throne miner <hotkey|uid>`: one miner's record, place, weight and history.

The ``miner`` command also serves miners (``throne miner serve``), so this module does not
register a parser: the command group adds these arguments and calls `show_miner`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from throne import views
from throne.cli.main import CommandError
from throne.cli.reads import add_read_options, read
from throne.cli.tables import console, opt, print_json, verdict_line
from throne.views.miner import BadMinerKey, parse_miner_key

FIELDS = (
    "hotkey",
    "uid",
    "model",
    "revision",
    "first_block",
    "status",
    "valid",
    "invalid_reason",
    "terminated_reason",
    "queue_position",
    "releases",
    "model_hash",
    "weight",
)


def add_miner_lookup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "who", metavar="HOTKEY|UID", help="the miner's hotkey, or the uid it sits at now"
    )
    add_read_options(parser)


def show_miner(args: argparse.Namespace) -> int:
    try:
        parse_miner_key(args.who)  # bounded before the log is opened, as the status API does
    except BadMinerKey as exc:
        raise CommandError(f"{exc}, got {_shown(args.who)}") from None
    data = read(args.db, args.netuid, lambda reads: views.miner(reads, args.who))
    if data is None:
        raise CommandError(f"no miner with hotkey or uid {args.who!r} in the event log")
    if args.json:
        print_json(data)
    else:
        render(data)
    return 0


def _shown(who: str) -> str:
    return repr(who) if len(who) <= 70 else f"{who[:60]!r}... ({len(who)} characters)"


def render(data: Mapping[str, Any]) -> None:
    out = console()
    for key in FIELDS:
        out.print(f"{key.replace('_', ' '):<18} {opt(data.get(key))}")
    if data["events"]:
        out.print("events:")
    for e in data["events"]:
        details = {k: v for k, v in e.items() if k not in ("event", "block", "verdict")}
        extra = " ".join(f"{k}={v}" for k, v in details.items())
        block = f"@ block {e['block']}" if "block" in e else ""
        out.print(f"  {block:<14} {e['event']:<20} {extra}")
        if e.get("verdict"):
            out.print(f"  {'':<14} {'':<20} verdict {verdict_line(e['verdict'])}")
