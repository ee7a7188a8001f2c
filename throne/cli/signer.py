"""`throne signer`: hold the validator's hotkey in a process of its own, for the daemon."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from throne.cli.main import CommandError

DESCRIPTION = (
    "Hold the validator's hotkey apart from the daemon, which talks to untrusted miners and "
    "so never opens the wallet (set [validator] signer_url and signer_token_file). The signer "
    "answers GET /healthz, POST /sign (only an audit checkpoint's or end record's message) and "
    "POST /set_weights (only on its own subnet, a u16 vector a chain accepts), each with the "
    "bearer token of --token-file, a file of mode 600. It listens on a unix socket "
    "(recommended) or on loopback. The chain and the wallet are [validator]'s of --config (or "
    "./throne.toml), each overridden by the flags below. SIGTERM or SIGINT stops it."
)


def _mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if not 0 <= mode <= 0o777 or mode & 0o007:
        raise argparse.ArgumentTypeError(
            f"{text}: a socket mode gives nothing to others (e.g. 600 or 660)"
        )
    return mode


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "signer", help="hold the validator's hotkey for the daemon", description=DESCRIPTION
    )
    p.add_argument(
        "--token-file",
        type=Path,
        required=True,
        metavar="FILE",
        help="the bearer token the daemon must send (one word of 16+ characters, mode 600)",
    )
    where = p.add_argument_group("where it listens (one of)")
    place = where.add_mutually_exclusive_group(required=True)
    place.add_argument(
        "--socket", type=Path, metavar="PATH", help="a unix socket (e.g. /run/throne/signer.sock)"
    )
    place.add_argument("--port", type=int, metavar="N", help="a TCP port, on --host")
    where.add_argument(
        "--host", metavar="ADDR", help="with --port: the address (default 127.0.0.1)"
    )
    where.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --host be other than loopback (the token then crosses the network in clear)",
    )
    where.add_argument(
        "--socket-mode",
        type=_mode,
        default=0o660,
        metavar="MODE",
        help="the socket's permissions, octal (default 660: the signer's user and group)",
    )
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="settings file whose [validator] names the chain and the wallet (default: "
        "$THRONE_CONFIG or ./throne.toml if present)",
    )
    p.set_defaults(db=None)  # the signer opens no log
    chain = p.add_argument_group("chain (each overrides [validator])")
    chain.add_argument("--chain", metavar="local|finney|test|URL", help="which chain")
    chain.add_argument("--chain-db", metavar="PATH", help="the local chain's file")
    chain.add_argument("--netuid", type=int, metavar="N", help="the one subnet weights are set on")
    chain.add_argument("--hotkey", metavar="HK", help="on the local chain: the validator's hotkey")
    chain.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="deadline of each chain read"
    )
    wallet = p.add_argument_group(
        "wallet (Bittensor networks; an encrypted hotkey is unlocked with BT_WALLET_PASSWORD or "
        "BT_WALLET_PASSWORD_FILE, never a prompt)"
    )
    wallet.add_argument("--wallet-name", metavar="NAME", help="wallet (coldkey) name")
    wallet.add_argument("--wallet-hotkey", metavar="NAME", help="hotkey name in the wallet")
    wallet.add_argument("--wallet-path", metavar="DIR", help="directory holding the wallets")
    wallet.add_argument("--data-dir", metavar="DIR", help="where bittensor's caches are kept")
    p.add_argument(
        "--key",
        type=Path,
        metavar="FILE",
        help="local chain only: the checkpoint signing key (0x hex seed, //uri or mnemonic; "
        "default: the local key `throne audit export` uses)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(handler=run)


#: flag -> [validator] key
_OVERRIDES = {
    "chain": "chain",
    "chain_db": "chain_db",
    "netuid": "netuid",
    "hotkey": "hotkey",
    "timeout": "chain_timeout_seconds",
    "wallet_name": "wallet_name",
    "wallet_hotkey": "wallet_hotkey",
    "wallet_path": "wallet_path",
    "data_dir": "data_dir",
}


def _validator(args: argparse.Namespace) -> Any:
    from throne.cli.run import load

    settings = load(args)
    given = {key: getattr(args, flag) for flag, key in _OVERRIDES.items()}
    try:
        return replace(settings.validator, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:  # a flag outside its range, named like the setting
        raise CommandError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    import socket

    import structlog

    from throne.adapters.signer.token import TokenFileError, read_token_file
    from throne.app import open_signer_holding
    from throne.miners.server import serve_until_signalled
    from throne.observability.logging import configure_logging
    from throne.signer.listen import (
        ListenError,
        bind_tcp,
        bind_unix,
        check_host,
        remove_socket,
    )
    from throne.signer.service import signer_app

    if args.socket is not None and (args.host is not None or args.allow_remote):
        raise CommandError("--host and --allow-remote go with --port, not --socket")
    v = _validator(args)
    try:
        token = read_token_file(args.token_file)
    except TokenFileError as exc:
        raise CommandError(str(exc)) from exc
    host = args.host or "127.0.0.1"
    try:  # before the wallet is opened: what is cheap to check comes first
        if args.socket is None:
            check_host(host, allow_remote=args.allow_remote)
    except ListenError as exc:
        raise CommandError(str(exc)) from exc
    configure_logging(args.log_level.upper())
    holding = open_signer_holding(v, args.key)
    sock: socket.socket | None = None
    try:
        app = signer_app(holding, token)
        try:
            if args.socket is not None:
                sock = bind_unix(args.socket, args.socket_mode)
                where = f"unix://{Path(args.socket).expanduser().absolute()}"
            else:
                sock = bind_tcp(host, args.port, allow_remote=args.allow_remote)
                where = f"http://{host}:{args.port}"
        except ListenError as exc:
            raise CommandError(str(exc)) from exc
        log = structlog.get_logger("throne.signer")
        log.info(
            "signer_started",
            listen=where,
            chain=v.chain,
            netuid=v.netuid,
            hotkey=holding.chain.signer_hotkey,
            checkpoint_signer=holding.key.ss58_address,
        )
        serve_until_signalled(app, sock)
        log.info("signer_stopped")
    finally:
        if sock is not None:
            sock.close()
            if args.socket is not None:
                remove_socket(Path(args.socket).expanduser().absolute())
        holding.chain.close()
    return 0
