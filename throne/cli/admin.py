"""`throne admin`: the operator's actions, each a command of the contest recorded in its log.

Nothing changes the contest except through the log: a blacklist, the burn, a pool rotation or
a pause is an event with the operator's stated reason, shown by ``rank`` and ``history`` and
replayed by every audit (docs/operations.md). A command that breaks its rule is refused with
the rule's name and records nothing. The daemon may run meanwhile: the contest's optimistic
concurrency orders the two writers, and the daemon acts on the change at its next step.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from throne.cli.main import CommandError
from throne.cli.reads import DEFAULT_NETUID, add_db_option, default_db, existing_log

ACTIONS: dict[str, tuple[str, str]] = {
    # command: (the contest's command, what it does)
    "blacklist": ("blacklist", "take a hotkey out of the contest (it never battles meanwhile)"),
    "unblacklist": ("unblacklist", "put a blacklisted hotkey back at its place in the queue"),
    "set-burn": ("set_burn", "set the share of the weights UID 0 gets, in [0, 1]"),
    "rotate-pool": ("order_pool_rotation", "draw a new task pool now (between battles only)"),
    "pause": ("pause", "take no step and owe no work until resumed (weights are still set)"),
    "resume": ("resume", "run again; a paused battle's deadline moves by the blocks paused"),
}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "admin",
        help="operator actions (blacklist, burn, pool rotation, pause), recorded in the log",
        description=(
            "Operator actions on the contest. Each is a command of the contest that records an "
            "event with the reason you give (--reason is required): visible in rank, history "
            "and the audit, and replayed by every verification. A command that breaks its rule "
            "(an unknown hotkey, a burn outside [0, 1], a rotation during a battle...) is "
            "refused with the rule's name and records nothing."
        ),
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, (_, summary) in ACTIONS.items():
        a = actions.add_parser(name, help=summary, description=summary)
        if name in ("blacklist", "unblacklist"):
            a.add_argument("hotkey", metavar="HOTKEY", help="the miner's hotkey (ss58)")
        if name == "set-burn":
            a.add_argument("burn", metavar="BURN", help="the burn, a number in [0, 1]")
        a.add_argument("--reason", required=True, help="why: recorded with the action")
        a.add_argument(
            "--block",
            type=int,
            help="the block to record it at (default: the newest block the log names)",
        )
        add_db_option(a)
        a.add_argument(
            "--netuid",
            type=int,
            default=DEFAULT_NETUID,
            help=f"the subnet whose contest to act on (default: {DEFAULT_NETUID})",
        )
        a.add_argument("--json", action="store_true", help="print one JSON object")
        a.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from throne.app import open_operator
    from throne.domain.contest.config import ContestConfig
    from throne.domain.contest.operator import Refused

    command, _ = ACTIONS[args.action]
    kwargs: dict[str, Any] = {}
    if args.action in ("blacklist", "unblacklist"):
        kwargs["hotkey"] = args.hotkey
    if args.action == "set-burn":
        try:
            kwargs["burn"] = float(args.burn)
        except ValueError:
            raise CommandError(
                f"refused (burn_out_of_range): the burn must be a number in [0, 1], "
                f"got {args.burn!r}"
            ) from None
    if args.block is not None and args.block < 0:
        raise CommandError("--block must not be negative", 2)
    db = existing_log(args.db or default_db(), readonly=False)
    app = open_operator(db, ContestConfig(netuid=args.netuid))
    try:
        version = app.operate(command, args.reason, args.block, **kwargs)
    except Refused as exc:
        raise CommandError(f"refused ({exc.rule}): {str(exc).split(': ', 1)[1]}") from None
    finally:
        app.close()
    done = {"action": args.action, **kwargs, "reason": " ".join(args.reason.split())}
    done["contest_version"] = version
    if args.json:
        print(json.dumps(done))
    else:
        what = " ".join(str(v) for v in kwargs.values())
        print(f"{args.action}{' ' + what if what else ''}: recorded (contest version {version})")
    return 0
