"""Chain selection flags shared by the commands that talk to a chain, and opening the chain."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from throne.cli.main import CommandError
from throne.ports.chain import Chain, ChainError, is_chain_name

DEFAULT_NETUID = 120
DEFAULT_CHAIN_DB = Path(os.environ.get("THRONE_CHAIN_DB", ".throne/chain.db"))

CHAIN_HELP = (
    "which chain: 'local' (default) is the embedded chain in the --chain-db file; 'finney' "
    "and 'test' are Bittensor main and test networks; a ws:// or wss:// URL is any subtensor "
    "node (e.g. ws://127.0.0.1:9944 for a local subtensor)"
)


def add_chain_db_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--chain-db",
        type=Path,
        default=DEFAULT_CHAIN_DB,
        metavar="PATH",
        help=f"the embedded chain's SQLite file (default: $THRONE_CHAIN_DB or {DEFAULT_CHAIN_DB})",
    )


def add_netuid_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--netuid",
        type=int,
        default=DEFAULT_NETUID,
        help=f"subnet id (default: {DEFAULT_NETUID}, Affine)",
    )


def add_chain_options(parser: argparse.ArgumentParser) -> None:
    """``--chain``, ``--chain-db``, ``--netuid``, the hotkey to sign with, and a deadline."""
    group = parser.add_argument_group("chain")
    group.add_argument("--chain", default="local", metavar="local|finney|test|URL", help=CHAIN_HELP)
    add_chain_db_option(group)
    add_netuid_option(group)
    group.add_argument(
        "--hotkey",
        metavar="HK",
        help="on the local chain: the hotkey to act as (any name registered with "
        "`throne localnet register`); on a Bittensor network use the wallet flags",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="deadline of each chain call on a Bittensor network (default: 30)",
    )
    wallet = parser.add_argument_group(
        "wallet (Bittensor networks only; a password is never prompted for: an encrypted "
        "hotkey is unlocked with BT_WALLET_PASSWORD or BT_WALLET_PASSWORD_FILE)"
    )
    wallet.add_argument("--wallet-name", default="default", help="wallet (coldkey) name")
    wallet.add_argument("--wallet-hotkey", default="default", help="hotkey name in the wallet")
    wallet.add_argument(
        "--wallet-path",
        type=Path,
        default=Path("~/.bittensor/wallets"),
        help="directory holding the wallets (default: ~/.bittensor/wallets)",
    )
    wallet.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".throne"),
        help="where bittensor's caches are kept instead of ~/.bittensor (default: .throne)",
    )


def is_local(args: argparse.Namespace) -> bool:
    return bool(args.chain == "local")


def open_chain(args: argparse.Namespace, *, need_signer: bool) -> Chain:
    """The chain the flags select; on the local chain ``--hotkey`` is the signer."""
    from throne.app import ChainChoice, connect_chain

    if is_local(args):
        if need_signer and not args.hotkey:
            raise CommandError("the local chain needs --hotkey HK to act as")
    elif not is_chain_name(args.chain):
        raise CommandError(f"unknown chain {args.chain!r}: use local, finney, test or a ws(s) URL")
    elif args.timeout <= 0:
        raise CommandError("--timeout must be positive")
    choice = ChainChoice(
        network=args.chain,
        chain_db=args.chain_db,
        hotkey=args.hotkey,
        wallet_name=args.wallet_name,
        wallet_hotkey=args.wallet_hotkey,
        wallet_path=args.wallet_path,
        data_dir=args.data_dir,
        timeout_seconds=args.timeout,
    )
    with chain_errors():
        return connect_chain(choice)


@contextmanager
def chain_errors() -> Iterator[None]:
    """Turn a chain adapter's error into the one-line error the CLI prints."""
    try:
        yield
    except ChainError as exc:
        raise CommandError(str(exc)) from exc
