"""`throne weights`: the contest's current weight vector, from the event log; ``--onchain``
reads what a validator has set on chain instead."""

from __future__ import annotations

import argparse
import json
from typing import Any

from throne import views
from throne.cli.chain_args import add_chain_options, chain_errors, is_local, open_chain
from throne.cli.main import CommandError
from throne.cli.reads import add_db_option, read
from throne.cli.tables import console, opt, print_json


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "weights",
        help="show the contest's weight vector (--onchain: what a validator has set on chain)",
        description=(
            "Show the weight vector the contest gives now, by uid, read from the event log "
            "(--db), with the last submission recorded there. With --onchain: the row a "
            "validator has stored on chain, as "
            "u16 values with each uid's share of the row. The validator is --uid, or the "
            "hotkey given by --hotkey (local chain) or the wallet flags (Bittensor networks)."
        ),
    )
    p.add_argument(
        "--onchain",
        action="store_true",
        help="read the weights stored on chain (needs a chain; see the chain flags)",
    )
    p.add_argument("--uid", type=int, metavar="UID", help="the validator's uid")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_db_option(p.add_argument_group("event log (without --onchain)"))
    add_chain_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.onchain:
        return _contest(args)
    return _onchain(args)


def _contest(args: argparse.Namespace) -> int:
    data = read(args.db, args.netuid, views.weights)
    if args.json:
        print_json(data)
        return 0
    out = console()
    champ = data["champion"]
    holder = "none" if champ is None else f"UID {opt(champ['uid'])} {champ['hotkey']}"
    out.print(
        f"contest weights on subnet {data['netuid']} (contest version "
        f"{data['contest_version']}, burn {data['burn']:.2%}); champion: {holder}"
    )
    for uid, w in data["weights"].items():
        out.print(f"  uid {uid:>3}  {w:.6f}")
    last = data["last_submission"]
    if last is None:
        out.print("last submission: none recorded")
    else:
        result = "ok" if last["ok"] else f"failed ({opt(last['error'])})"
        out.print(
            f"last submission: block {last['block']}, {result}, u16 {last['u16']}, "
            f"extrinsic {opt(last['extrinsic'])}"
        )
    return 0


def _onchain(args: argparse.Namespace) -> int:
    by_uid = args.uid is not None
    if not by_uid and is_local(args) and not args.hotkey:
        raise CommandError("say whose weights: --uid UID or --hotkey HK")
    chain = open_chain(args, need_signer=not by_uid)
    try:
        with chain_errors():
            snap = chain.snapshot(args.netuid)
            if by_uid:
                uid = int(args.uid)
            else:
                found = snap.uid_of(chain.signer_hotkey)
                if found is None:
                    raise CommandError(
                        f"{chain.signer_hotkey} is not registered on subnet {args.netuid}"
                    )
                uid = found
            row = chain.onchain_weights(args.netuid, uid)
    finally:
        chain.close()
    hotkeys = {n.uid: n.hotkey for n in snap.neurons}
    total = sum(v for _, v in row.weights)
    entries = [
        {"uid": u, "hotkey": hotkeys.get(u), "weight": v, "share": v / total if total else 0.0}
        for u, v in row.weights
    ]
    if args.json:
        print(
            json.dumps(
                {
                    "netuid": row.netuid,
                    "block": row.block,
                    "validator_uid": uid,
                    "validator_hotkey": hotkeys.get(uid),
                    "weights": entries,
                }
            )
        )
        return 0
    print(
        f"weights of uid {uid} ({hotkeys.get(uid, '?')}) on subnet {row.netuid}, block {row.block}"
    )
    if not entries:
        print("  none set")
    for e in entries:
        print(f"  uid {e['uid']:>3}  {e['weight']:>5}  {e['share']:7.2%}  {e['hotkey'] or ''}")
    return 0
