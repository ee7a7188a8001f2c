"""`throne eval --base-url`: run an environment's tasks against any OpenAI-compatible endpoint,
on throne's own env or, with ``--env-url``, on any env service that speaks the protocol."""

from __future__ import annotations

import argparse
import json
import os
import statistics
from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from throne import event_loop, sdk
from throne.cli.main import CommandError
from throne.ports.model_endpoints import Endpoint
from throne.sdk import TaskScore

API_KEY_VARIABLE = "THRONE_API_KEY"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The remote-mode options of ``throne eval``; ``--env`` and ``--json`` only if the parser
    does not have them yet (the offline modes share them)."""
    remote = p.add_argument_group("remote evaluation")
    if "--env" not in p._option_string_actions:
        remote.add_argument("--env", required=True, help="environment name (e.g. SAT)")
    remote.add_argument("--base-url", help="endpoint base URL, usually ending in /v1")
    remote.add_argument("--model", help="model name to send to the endpoint")
    remote.add_argument("--tasks", type=int, default=10, help="number of tasks (default 10)")
    remote.add_argument("--start", type=int, help="first task id (default: the env's first)")
    remote.add_argument("--concurrency", type=int, default=8, help="requests in flight (8)")
    remote.add_argument("--timeout", type=float, default=600.0, help="seconds per task (600)")
    remote.add_argument("--retries", type=int, default=0, help="retries on 429/5xx (0)")
    remote.add_argument("--temperature", type=float, default=0.0, help="sampling temperature")
    remote.add_argument("--max-tokens", type=int, help="completion token cap")
    remote.add_argument("--per-task", action="store_true", help="also print one row per task")
    remote.add_argument(
        "--proxy-from-env",
        action="store_true",
        help="reach the endpoint through HTTP(S)_PROXY, honouring NO_PROXY",
    )
    service = p.add_argument_group(
        "environment service",
        "run the tasks on an env service that speaks the environment protocol (docs/envs.md) "
        "instead of throne's own env; --env then only names it",
    )
    service.add_argument("--env-url", metavar="URL", help="the env service's base URL")
    service.add_argument(
        "--interface",
        choices=("evaluate", "interactive"),
        default="evaluate",
        help="evaluate: the env runs each task; interactive: reset/step/stop, driven from here",
    )
    service.add_argument(
        "--max-turns", type=int, help="turns per episode of a multi-turn env (its own, or 30)"
    )
    service.add_argument(
        "--eval-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to the env's evaluate (VALUE read as JSON, else as a string); repeatable",
    )
    if "--json" not in p._option_string_actions:
        remote.add_argument("--json", action="store_true", help="print one JSON object instead")


def run(args: argparse.Namespace) -> int:
    if not args.base_url or not args.model:
        raise CommandError("remote evaluation needs --base-url and --model")
    if not args.base_url.startswith(("http://", "https://")):
        raise CommandError(f"--base-url must start with http:// or https://, got {args.base_url}")
    if args.concurrency < 1 or args.timeout <= 0 or args.retries < 0:
        raise CommandError("--concurrency and --timeout must be positive, --retries not negative")
    if args.max_turns is not None and args.max_turns < 1:
        raise CommandError("--max-turns must be at least 1")
    if args.env_url is not None:
        if not args.env_url.startswith(("http://", "https://")):
            raise CommandError(f"--env-url must start with http:// or https://, got {args.env_url}")
        env = sdk.env(
            args.env,
            args.env_url,
            interface=args.interface,
            max_turns=args.max_turns,
            eval_params=_eval_params(args.eval_param),
        )
        version, id_range = "remote", (0, 2**63)
    else:
        try:
            env = sdk.env(args.env, max_turns=args.max_turns)
        except sdk.UnknownEnv as exc:
            raise CommandError(str(exc)) from exc
        assert env.info is not None
        version, id_range = env.info.version, env.info.id_range
    task_ids = _task_ids(args.env, id_range, args.start, args.tasks)
    endpoint = Endpoint(args.base_url, args.model, os.environ.get(API_KEY_VARIABLE))
    scores = event_loop.run(_evaluate(env, endpoint, task_ids, args))
    summary = summarise(args.env, version, endpoint, scores)
    if args.env_url is not None:
        summary["env_url"] = args.env_url
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_tables(summary, args.per_task)
    if summary["counts"]["infra_error"] == len(scores):
        first = scores[0].detail
        where = args.env_url or endpoint.base_url
        raise CommandError(f"no task got an answer from {where}: {first}")
    return 0


def _eval_params(pairs: list[str]) -> dict[str, object]:
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--eval-param must be KEY=VALUE, got {pair!r}")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


def _task_ids(name: str, id_range: tuple[int, int], start: int | None, count: int) -> list[int]:
    first, stop = id_range
    start = first if start is None else start
    if count < 1:
        raise CommandError("--tasks must be at least 1")
    if start < first or start + count > stop:
        raise CommandError(
            f"{name} task ids lie in [{first}, {stop}); {count} tasks from {start} do not fit"
        )
    return list(range(start, start + count))


async def _evaluate(
    env: sdk.Env, endpoint: Endpoint, task_ids: list[int], args: argparse.Namespace
) -> list[TaskScore]:
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("mean {task.fields[mean]:.3f}"),
        TimeElapsedColumn(),
    )
    total = 0.0
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"{env.name} @ {endpoint.model}", total=len(task_ids), mean=0)

        def advance(score: TaskScore) -> None:
            nonlocal total
            total += score.score
            done = progress.tasks[0].completed + 1
            progress.update(bar, advance=1, mean=total / done)

        try:
            return await env.evaluate(
                base_url=endpoint.base_url,
                model=endpoint.model,
                api_key=endpoint.api_key,
                task_ids=task_ids,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
                concurrency=args.concurrency,
                timeout=args.timeout,
                retries=args.retries,
                proxy_from_env=args.proxy_from_env,
                on_result=advance,
            )
        except ValueError as exc:  # a service setting the env refuses
            raise CommandError(str(exc)) from exc


def summarise(
    env: str, version: str, endpoint: Endpoint, scores: list[TaskScore]
) -> dict[str, Any]:
    """The JSON report: ``mean`` over all tasks (failures score 0), ``n`` and per-task rows."""
    latencies = sorted(s.latency for s in scores)
    counts = Counter(s.outcome for s in scores)
    return {
        "env": env,
        "version": version,
        "base_url": endpoint.base_url,
        "model": endpoint.model,
        "n": len(scores),
        "mean": statistics.fmean(s.score for s in scores),
        "counts": {kind: counts.get(kind, 0) for kind in ("ok", "model_error", "infra_error")},
        "latency": {
            "mean": statistics.fmean(latencies),
            "p50": latencies[len(latencies) // 2],
            "p95": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))],
        },
        "tasks": [
            {
                "task_id": s.task_id,
                "score": s.score,
                "outcome": s.outcome,
                "latency": round(s.latency, 4),
                "completion_tokens": s.completion_tokens,
                "detail": s.detail,
            }
            for s in scores
        ],
    }


def _print_tables(summary: dict[str, Any], per_task: bool) -> None:
    console = Console()
    table = Table(title=f"{summary['env']} v{summary['version']} — {summary['model']}")
    for column in ("n", "mean", "ok", "model errors", "infra errors", "latency p50", "p95"):
        table.add_column(column, justify="right")
    counts, latency = summary["counts"], summary["latency"]
    table.add_row(
        str(summary["n"]),
        f"{summary['mean']:.3f}",
        str(counts["ok"]),
        str(counts["model_error"]),
        str(counts["infra_error"]),
        f"{latency['p50']:.2f}s",
        f"{latency['p95']:.2f}s",
    )
    console.print(table)
    if per_task:
        rows = Table("task", "score", "outcome", "latency", "detail")
        for task in summary["tasks"]:
            rows.add_row(
                str(task["task_id"]),
                f"{task['score']:g}",
                task["outcome"],
                f"{task['latency']:.2f}s",
                task["detail"][:60],
            )
        console.print(rows)
