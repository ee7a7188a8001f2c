"""`throne weights`: weight vectors. ``--onchain`` reads what a validator has set on chain."""

from __future__ import annotations

import argparse
import json
from typing import Any

from throne.cli.chain_args import add_chain_options, chain_errors, is_local, open_chain
from throne.cli.main import CommandError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "weights",
        help="show weight vectors (--onchain: what a validator has set on chain)",
        description=(
            "Show weight vectors. With --onchain: the row a validator has stored on chain, as "
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
    add_chain_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.onchain:
        raise CommandError(
            "only `throne weights --onchain` exists so far: the weights the validator "
            "derives from its event log are not available yet"
        )
    return _onchain(args)


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
