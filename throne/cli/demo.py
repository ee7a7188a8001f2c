"""`throne demo`: the whole contest on the embedded default."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from throne.cli.main import CommandError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the whole contest locally (SQLite log, local chain, local miners)",
        description=(
            "Run the whole contest locally: a local chain fast-forwarded with seven miners "
            "committed at different blocks (one a copy of another's model, one with a "
            "malformed commitment, one whose model no engine can serve), their models "
            "published on a loopback Hugging Face Hub, downloaded into a model cache and "
            "served by local miner engines that the daemon deploys and tears down, small task "
            "pools, and the validator daemon on a SQLite log. Ends with the deployments, the "
            "reign history, the terminated miners, the final weights and an audit of the log "
            "it produced; no engine outlives it."
        ),
    )
    p.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="keep the log (DIR/throne.db) and the chain (DIR/chain.db) here "
        "(default: a new temporary directory)",
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable summary only")
    p.add_argument(
        "--timeout",
        type=float,
        default=170.0,
        metavar="SECONDS",
        help="stop the contest after this long even if battles are pending (default: 170)",
    )
    p.add_argument(
        "--sampling-count",
        type=int,
        default=20,
        metavar="N",
        help="common tasks per env that decide a battle (pool: ceil(N*1.1); default: 20)",
    )
    p.add_argument(
        "--remote-envs",
        action="store_true",
        help="serve SAT, ABD and DED by `throne env serve` processes, which the daemon calls "
        "over HTTP by the environment protocol (docs/envs.md), instead of in its own process",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from throne.demo.run import DemoDirectoryInUse, DemoOptions, run_demo
    from throne.observability.logging import configure_logging

    if args.sampling_count < 1 or args.timeout <= 0:
        raise CommandError("--sampling-count and --timeout must be positive")
    opts = DemoOptions(
        directory=args.dir,
        timeout_seconds=args.timeout,
        sampling_count=args.sampling_count,
        remote_envs=args.remote_envs,
    )
    configure_logging("WARNING", json=False)
    try:
        live = not args.json and sys.stdout.isatty()
        summary = _run_live(opts) if live else run_demo(opts)
    except DemoDirectoryInUse as exc:
        raise CommandError(str(exc)) from exc
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    return 0 if summary["audit"]["ok"] else 1


def _run_live(opts: Any) -> dict[str, Any]:
    from rich.live import Live

    from throne.demo.run import run_demo
    from throne.demo.view import render

    with Live(refresh_per_second=4, transient=False) as live:

        def view(services: Any, elapsed: float) -> None:
            live.update(render(services, elapsed))

        return run_demo(opts, view)


def _print_summary(s: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    reigns = Table(title="reigns")
    for col in ("champion", "uid", "from block", "until block", "took it by", "ended by"):
        reigns.add_column(col)
    for r in s["reigns"]:
        reigns.add_row(
            r["hotkey"],
            str(r["uid"]),
            str(r["from_block"]),
            "-" if r["until_block"] is None else str(r["until_block"]),
            r["took_it_by"],
            r["ended_by"] or "-",
        )
    console.print(reigns)
    gone = Table(title="terminated and invalid miners")
    for col in ("hotkey", "uid", "reason"):
        gone.add_column(col)
    for m in s["terminated"]:
        gone.add_row(m["hotkey"], str(m["uid"]), m["reason"])
    for m in s["invalid"]:
        gone.add_row(m["hotkey"], str(m["uid"]), f"invalid: {m['reason']}")
    console.print(gone)
    from throne.demo.view import deployment_lines

    for line in deployment_lines(s.get("deployments", [])):
        console.print(line, highlight=False)
    weights = ", ".join(f"uid {uid}: {w:.4f}" for uid, w in s["weights"].items())
    console.print(f"final weights: {weights}")
    console.print(f"battles decided: {s['battles_decided']} in {s['seconds']} s")
    for env, url in s.get("env_services", {}).items():
        console.print(f"{env} served by throne env serve at {url}", highlight=False)
    audit = s["audit"]
    if audit["ok"]:
        console.print(
            f"[green]audit verify: ok[/green] ({audit['events']} events, "
            f"{audit['verdicts_checked']} verdicts and {audit['weights_checked']} weight "
            "vectors recomputed)"
        )
    else:
        console.print(f"[red]audit verify: FAILED[/red]: {audit['error']}")
    console.print(f"log and chain kept in {s['directory']}")
