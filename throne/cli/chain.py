"""`throne chain show`: what the contest reads from a chain, on any chain."""

from __future__ import annotations

import argparse
from typing import Any

from throne.cli.chain_args import add_chain_options, chain_errors, open_chain
from throne.cli.localnet import print_snapshot


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "chain",
        help="read a chain the way the validator does",
        description="Read a chain (local or a Bittensor network) the way the validator does.",
    )
    p.set_defaults(handler=lambda _args: _usage(p))
    cmds = p.add_subparsers(dest="chain_command", metavar="SUBCOMMAND")
    show = cmds.add_parser(
        "show",
        help="print the current block, neurons and commitments of a subnet",
        description=(
            "Print one snapshot of a subnet: the block it was read at, the registered neurons "
            "and every commitment with its block and status (the validator's only input from "
            "the chain)."
        ),
    )
    show.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: block, neurons [{uid, hotkey}], "
        "commitments [{hotkey, block, text}]",
    )
    add_chain_options(show)
    show.set_defaults(handler=_show)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _show(args: argparse.Namespace) -> int:
    chain = open_chain(args, need_signer=False)
    try:
        with chain_errors():
            snap = chain.snapshot(args.netuid)
    finally:
        chain.close()
    print_snapshot(snap, args.netuid, as_json=args.json)
    return 0
