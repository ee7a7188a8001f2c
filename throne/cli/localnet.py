"""`throne localnet`: create and drive the embedded local chain (a SQLite file)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from throne.adapters.chain.commitment import commitment_text
from throne.adapters.chain.local import DEFAULT_BLOCK_TIME, DEFAULT_WEIGHTS_RATE_LIMIT, LocalChain
from throne.app import create_local_chain, open_local_chain
from throne.cli.chain_args import add_chain_db_option, add_netuid_option, chain_errors
from throne.cli.main import CommandError
from throne.domain.queue.snapshot import ChainSnapshot


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "localnet",
        help="create and drive the embedded local chain",
        description=(
            "The embedded local chain: a SQLite file holding blocks, registered hotkeys (256 uids "
            "per subnet, the oldest recycled when full), commitments and weights. Other commands "
            "use it with --chain local (the default) and the same --chain-db."
        ),
    )
    p.set_defaults(handler=lambda _args: _usage(p))
    cmds = p.add_subparsers(dest="localnet_command", metavar="SUBCOMMAND")

    init = cmds.add_parser(
        "init",
        help="create a new local chain file",
        description="Create a new local chain file with one subnet.",
    )
    add_chain_db_option(init)
    add_netuid_option(init)
    init.add_argument("--start-block", type=int, default=1, help="first block (default: 1)")
    init.add_argument(
        "--clock",
        choices=("wall", "manual"),
        default="wall",
        help="'wall': a block every --block-time seconds (default); "
        "'manual': blocks move only with `localnet advance`",
    )
    init.add_argument(
        "--block-time",
        type=float,
        default=DEFAULT_BLOCK_TIME,
        metavar="SECONDS",
        help=f"seconds per block with --clock wall (default: {DEFAULT_BLOCK_TIME:g})",
    )
    init.add_argument(
        "--weights-rate-limit",
        type=int,
        default=DEFAULT_WEIGHTS_RATE_LIMIT,
        metavar="BLOCKS",
        help=f"blocks between two weight sets of one validator "
        f"(default: {DEFAULT_WEIGHTS_RATE_LIMIT})",
    )
    init.add_argument(
        "--version-key",
        type=int,
        default=0,
        help="oldest weights version key the subnet accepts (default: 0, any)",
    )
    init.set_defaults(handler=_init)

    reg = cmds.add_parser(
        "register",
        help="register a hotkey on a subnet",
        description="Give a hotkey a uid; when the subnet is full the oldest uid is recycled.",
    )
    add_chain_db_option(reg)
    add_netuid_option(reg)
    reg.add_argument("--hotkey", required=True, metavar="HK", help="hotkey name to register")
    reg.set_defaults(handler=_register)

    adv = cmds.add_parser(
        "advance",
        help="fast-forward the chain",
        description="Move the chain forward by a number of blocks.",
    )
    add_chain_db_option(adv)
    adv.add_argument("--blocks", type=int, required=True, metavar="N", help="blocks to add")
    adv.set_defaults(handler=_advance)

    com = cmds.add_parser(
        "commit",
        help="publish a hotkey's commitment (well-formed or raw)",
        description=(
            "Publish a commitment for a registered hotkey: a model and revision, or any raw "
            "text (to try malformed commitments). It replaces the hotkey's previous one."
        ),
    )
    add_chain_db_option(com)
    add_netuid_option(com)
    com.add_argument("--hotkey", required=True, metavar="HK", help="registered hotkey")
    what = com.add_mutually_exclusive_group(required=True)
    what.add_argument("--repo", metavar="R", help="Hugging Face model repo (with --revision)")
    what.add_argument("--text", metavar="RAW", help="raw commitment text, sent as is")
    com.add_argument("--revision", metavar="SHA", help="model commit SHA (with --repo)")
    com.set_defaults(handler=_commit)

    show = cmds.add_parser(
        "show",
        help="print the current block, neurons and commitments",
        description="Print the current block, the subnet's neurons and its commitments.",
    )
    add_chain_db_option(show)
    add_netuid_option(show)
    show.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: block, neurons [{uid, hotkey}], "
        "commitments [{hotkey, block, text}]",
    )
    show.set_defaults(handler=_show)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _open(args: argparse.Namespace) -> LocalChain:
    with chain_errors():
        return open_local_chain(args.chain_db)


def _init(args: argparse.Namespace) -> int:
    with chain_errors():
        create_local_chain(
            args.chain_db,
            netuid=args.netuid,
            start_block=args.start_block,
            clock_mode=args.clock,
            block_time=args.block_time,
            weights_rate_limit=args.weights_rate_limit,
            version_key=args.version_key,
        )
    print(f"local chain created at {args.chain_db} (subnet {args.netuid}, clock {args.clock})")
    return 0


def _register(args: argparse.Namespace) -> int:
    with chain_errors():
        uid = _open(args).register(args.netuid, args.hotkey)
    print(f"{args.hotkey} registered on subnet {args.netuid} at uid {uid}")
    return 0


def _advance(args: argparse.Namespace) -> int:
    with chain_errors():
        block = _open(args).advance(args.blocks)
    print(f"block {block}")
    return 0


def _commit(args: argparse.Namespace) -> int:
    if args.repo is not None:
        if not args.revision:
            raise CommandError("--repo needs --revision SHA")
        text = commitment_text(args.repo, args.revision)
    else:
        if args.revision:
            raise CommandError("--revision goes with --repo, not with --text")
        text = args.text
    with chain_errors():
        receipt = _open(args).commit_as(args.hotkey, args.netuid, text)
    print(f"{receipt.hotkey} committed at block {receipt.block}: {receipt.text}")
    return 0


def _show(args: argparse.Namespace) -> int:
    with chain_errors():
        snap = _open(args).snapshot(args.netuid)
    print_snapshot(snap, args.netuid, as_json=args.json)
    return 0


def print_snapshot(snap: ChainSnapshot, netuid: int, *, as_json: bool) -> None:
    """The block, neurons and commitments of a snapshot, as text or as one JSON object."""
    if as_json:
        print(
            json.dumps(
                {
                    "block": snap.block,
                    "neurons": [{"uid": n.uid, "hotkey": n.hotkey} for n in snap.neurons],
                    "commitments": [
                        {"hotkey": c.hotkey, "block": c.block, "text": c.text}
                        for c in snap.commitments
                    ],
                }
            )
        )
        return
    print(f"block {snap.block}, subnet {netuid}")
    print(f"neurons ({len(snap.neurons)}):")
    for n in snap.neurons:
        print(f"  {n.uid:>3}  {n.hotkey}")
    print(f"commitments ({len(snap.commitments)}):")
    for c in snap.commitments:
        status = "" if c.status == "plain" else f"  [{c.status}]"
        print(f"  {c.hotkey}  block {c.block}  {c.text}{status}")
