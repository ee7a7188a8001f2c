"""`throne run` (the validator daemon) and `throne config show`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

from throne import event_loop
from throne.cli import early_stop
from throne.cli.main import CommandError

DEFAULT_CONFIG = Path(os.environ.get("THRONE_CONFIG", "throne.toml"))


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"settings file (default: $THRONE_CONFIG or ./{DEFAULT_CONFIG} if present; "
        "every key has a default)",
    )
    p.add_argument(
        "--db",
        metavar="URL",
        help="the event log: a SQLite path, sqlite:///PATH or postgresql://...; overrides "
        "[validator] db and $THRONE_DB",
    )


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run the validator daemon",
        description=(
            "Run the validator: sync commitments from the chain every block, run the contest "
            "(pool refresh, cold start, battles, decisions), sample miners' models on the "
            "task pool, and set weights every N blocks. SIGTERM or SIGINT stops it cleanly; "
            "after any stop, even SIGKILL, it resumes from the log with nothing lost."
        ),
    )
    _add_config_options(p)
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--no-weights", action="store_true", help="run the contest without setting weights"
    )
    p.set_defaults(handler=run)

    w: argparse.ArgumentParser = sub.add_parser(
        "worker",
        help="run a sampling worker beside the daemon",
        description=(
            "Run only the sampler: take pending evaluations from the shared log, ask the "
            "miners' models, score and record them. Several workers, on this machine or others "
            "(with a PostgreSQL log), share the work through claims in the database; the "
            "daemon (`throne run`) keeps reading the chain, deciding battles and setting weights. "
            "A worker never opens the chain: it needs the log's database and the miners' "
            "endpoints, no chain file, node or wallet."
        ),
    )
    _add_config_options(w)
    w.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    w.set_defaults(handler=worker)

    c: argparse.ArgumentParser = sub.add_parser(
        "config", help="show the effective configuration", description="Configuration."
    )
    csub = c.add_subparsers(dest="config_command", metavar="COMMAND")
    show = csub.add_parser(
        "show",
        help="print the effective configuration (file values over defaults)",
        description="Print the effective configuration as TOML-like tables, or --json.",
    )
    _add_config_options(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=config_show)


def load(args: argparse.Namespace) -> Any:
    from throne.daemon.settings import SettingsError, load_settings
    from throne.envs.registry import environments, episodic_environments

    path = args.config
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    if path is not None and not path.is_file():
        raise CommandError(f"no settings file at {path}")
    ranges = {name: env.id_range for name, env in environments().items()}
    optional = {name: env.id_range for name, env in episodic_environments().items()}
    try:
        settings = load_settings(path, ranges, optional)
    except SettingsError as exc:
        raise CommandError(str(exc)) from exc
    if args.db:
        from dataclasses import replace

        settings = replace(settings, validator=replace(settings.validator, db=args.db))
    return settings


def config_show(args: argparse.Namespace) -> int:
    settings = load(args)
    data = settings.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for section, values in data.items():
        if section == "envs":
            for env, table in values.items():
                print(f"[envs.{env}]")
                for k, v in table.items():
                    print(f"{k} = {json.dumps(v)}")
                print()
            continue
        print(f"[{section}]")
        for k, v in values.items():
            print(f"{k} = {json.dumps(v)}")
        print()
    return 0


def run(args: argparse.Namespace) -> int:
    return _serve(args, worker_only=False)


def worker(args: argparse.Namespace) -> int:
    return _serve(args, worker_only=True)


def _serve(args: argparse.Namespace, *, worker_only: bool) -> int:
    from throne.app import build
    from throne.observability.logging import configure_logging

    early_stop.arm()  # already armed by main(); again for callers that skip it
    settings = load(args)
    configure_logging(args.log_level.upper())
    # A log, chain or secret that cannot be used fails here, before any loop starts, with an
    # error that `throne.cli.main` prints as one line (see throne.cli.errors).
    services = build(
        settings,
        with_weights=not (worker_only or args.no_weights),
        role="worker" if worker_only else "daemon",
    )
    try:
        event_loop.run(_until_signalled(services, worker_only, early_stop.requested))
    finally:
        services.close_sync()
    return 0


async def _until_signalled(services: Any, worker_only: bool, early_stop: threading.Event) -> None:
    import structlog

    log = structlog.get_logger("throne")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if early_stop.is_set():
        stop.set()
    role = "worker" if worker_only else "daemon"
    log.info(f"{role}_started", db=services.db.display, chain=services.settings.validator.chain)
    try:
        if worker_only:
            await services.sampler.run(stop, services.settings.validator.poll_seconds)
        else:
            await services.daemon.run(stop)
    finally:
        await services.close_clients()
        log.info(f"{role}_stopped")
