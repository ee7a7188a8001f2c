"""`throne miner serve`: local OpenAI-compatible miners on loopback, for the demo and tests."""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from throne.cli.environment_lookup import (
    installed_environments,
    installed_episodic_environments,
)
from throne.cli.main import CommandError
from throne.cli.miner_lookup import add_miner_lookup_arguments, show_miner
from throne.envs.base import Environment
from throne.envs.episodic import EpisodicEnv
from throne.miners.asgi import miner_app
from throne.miners.profile import Faults, MinerProfile
from throne.miners.server import bind, serve_until_signalled


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "miner",
        help="look a miner up (`throne miner HOTKEY|UID`) or serve local test miners",
        description="`throne miner HOTKEY|UID` shows one miner from the event log; "
        "`throne miner serve` runs local OpenAI-compatible miners with a chosen, deterministic "
        "skill.",
    )
    miner_sub = p.add_subparsers(dest="miner_command", metavar="SUBCOMMAND", required=True)
    serve = miner_sub.add_parser(
        "serve",
        help="serve one or more miners on 127.0.0.1",
        description=(
            "Serve POST /v1/chat/completions on HOST:PORT. A miner recognises the environment "
            "and task from the prompt and answers correctly with probability SKILL per task, "
            "decided by a hash of (name, revision, env, task id), otherwise with a plausible "
            "wrong answer. The request's model field picks the miner. GET /health answers "
            "once the server is ready. Fault options apply to every miner served. With "
            "--from-dir the miner is the one a model folder's throne-miner.json names (name, "
            "revision, skill), as an inference engine loads a downloaded model."
        ),
    )
    serve.add_argument("--port", type=int, required=True, help="port to listen on (0: any)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--skill", type=float, help="chance to solve a task, 0..1")
    serve.add_argument(
        "--name",
        help="model name to serve under (default local; with --from-dir, the folder's name, "
        "which still seeds the draws whatever name it is served under)",
    )
    serve.add_argument("--revision", default="main", help="revision that seeds the skill draw")
    serve.add_argument(
        "--from-dir",
        type=Path,
        metavar="DIR",
        help="serve the miner a model folder holds (DIR/throne-miner.json), instead of --skill",
    )
    serve.add_argument(
        "--miner",
        action="append",
        default=[],
        metavar="NAME=SKILL",
        help="serve another miner from the same server (repeatable)",
    )
    faults = serve.add_argument_group("injected faults")
    faults.add_argument("--latency-ms", type=float, default=0.0, help="delay before answering")
    faults.add_argument("--latency-jitter-ms", type=float, default=0.0, help="± uniform jitter")
    faults.add_argument("--fail-first", type=int, default=0, help="answer 503 to the first N")
    faults.add_argument("--error-rate", type=float, default=0.0, help="share answered 500")
    faults.add_argument("--rate-limit-rate", type=float, default=0.0, help="share answered 429")
    faults.add_argument("--retry-after", type=float, default=1.0, help="Retry-After on 429 (s)")
    faults.add_argument("--hang-rate", type=float, default=0.0, help="share never answered")
    faults.add_argument("--malformed-rate", type=float, default=0.0, help="share of broken JSON")
    faults.add_argument(
        "--nested-rate", type=float, default=0.0, help="share of JSON nested 1,100 levels deep"
    )
    faults.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    serve.set_defaults(handler=run_serve)
    show = miner_sub.add_parser(
        "show",
        help="one miner's record, queue position, weight and contest events "
        "(`throne miner HOTKEY|UID` is short for this)",
        description="Show one miner: its commitment, validity, status, queue position, "
        "weight and every contest event about it.",
    )
    add_miner_lookup_arguments(show)
    show.set_defaults(handler=show_miner)


def miners_from_args(args: argparse.Namespace) -> list[MinerProfile]:
    try:
        faults = Faults(
            latency_ms=args.latency_ms,
            latency_jitter_ms=args.latency_jitter_ms,
            fail_first=args.fail_first,
            error_rate=args.error_rate,
            rate_limit_rate=args.rate_limit_rate,
            retry_after=args.retry_after,
            hang_rate=args.hang_rate,
            malformed_rate=args.malformed_rate,
            nested_rate=args.nested_rate,
        )
        if args.from_dir is not None:
            if args.skill is not None or args.miner:
                raise ValueError("--from-dir names the miner: give neither --skill nor --miner")
            miner = MinerProfile.from_dir(args.from_dir, faults)
            return [replace(miner, served_as=args.name)]
        if args.skill is None:
            raise ValueError("give --skill (or --from-dir DIR)")
        miners = [MinerProfile(args.name or "local", args.revision, args.skill, faults)]
        for spec in args.miner:
            name, sep, skill = spec.partition("=")
            if not sep or not name:
                raise ValueError(f"--miner wants NAME=SKILL, got {spec!r}")
            miners.append(MinerProfile(name, args.revision, float(skill), faults))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if len({m.name for m in miners}) != len(miners):
        raise CommandError("two miners share a name")
    return miners


def run_serve(args: argparse.Namespace) -> int:
    miners = miners_from_args(args)
    environments: dict[str, Environment | EpisodicEnv] = {
        **installed_environments(),
        **installed_episodic_environments(),
    }
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be within [0, 65535], got {args.port}")
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    host, port = sock.getsockname()[:2]
    names = ", ".join(f"{m.served_name} (skill {m.skill:g})" for m in miners)
    envs = ", ".join(sorted(environments)) or "none installed: every prompt gets a refusal"
    print(f"serving {names} at http://{host}:{port}/v1 (environments: {envs})", flush=True)
    app = miner_app(miners, list(environments.values()), seed=args.seed)
    received = serve_until_signalled(app, sock)
    print("stopped", file=sys.stderr)
    if received == signal.SIGINT:
        raise KeyboardInterrupt
    return 128 + received if received else 0
