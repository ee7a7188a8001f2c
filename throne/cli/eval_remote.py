"""`throne eval --base-url`: run an environment's tasks against any OpenAI-compatible endpoint."""

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

from throne import event_loop
from throne.adapters.inference.env_run import TaskScore, run_tasks
from throne.adapters.inference.policy import Deadlines, Limits, RetryPolicy
from throne.app import open_chat_client
from throne.cli.environment_lookup import installed_environments
from throne.cli.main import CommandError
from throne.envs.base import Environment
from throne.ports.model_endpoints import Endpoint

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
    if "--json" not in p._option_string_actions:
        remote.add_argument("--json", action="store_true", help="print one JSON object instead")


def run(args: argparse.Namespace) -> int:
    env = _environment(args.env)
    if not args.base_url or not args.model:
        raise CommandError("remote evaluation needs --base-url and --model")
    if not args.base_url.startswith(("http://", "https://")):
        raise CommandError(f"--base-url must start with http:// or https://, got {args.base_url}")
    task_ids = _task_ids(env, args.start, args.tasks)
    if args.concurrency < 1 or args.timeout <= 0 or args.retries < 0:
        raise CommandError("--concurrency and --timeout must be positive, --retries not negative")
    endpoint = Endpoint(args.base_url, args.model, os.environ.get(API_KEY_VARIABLE))
    scores = event_loop.run(_evaluate(env, endpoint, task_ids, args))
    summary = summarise(env, endpoint, scores)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_tables(summary, args.per_task)
    if summary["counts"]["infra_error"] == len(scores):
        first = scores[0].detail
        raise CommandError(f"no task got an answer from {endpoint.base_url}: {first}")
    return 0


def _environment(name: str) -> Environment:
    environments = installed_environments()
    if name in environments:
        return environments[name]
    known = ", ".join(sorted(environments)) or "none installed"
    raise CommandError(f"unknown environment {name!r} (known: {known})")


def _task_ids(env: Environment, start: int | None, count: int) -> list[int]:
    first, stop = env.id_range
    start = first if start is None else start
    if count < 1:
        raise CommandError("--tasks must be at least 1")
    if start < first or start + count > stop:
        raise CommandError(
            f"{env.name} task ids lie in [{first}, {stop}); {count} tasks from {start} do not fit"
        )
    return list(range(start, start + count))


async def _evaluate(
    env: Environment, endpoint: Endpoint, task_ids: list[int], args: argparse.Namespace
) -> list[TaskScore]:
    console = Console(stderr=True)
    client = open_chat_client(
        deadlines=Deadlines(connect=min(10.0, args.timeout), read=args.timeout, total=args.timeout),
        retry=RetryPolicy(attempts=args.retries + 1),
        limits=Limits(per_endpoint=args.concurrency, overall=args.concurrency),
        trust_env=args.proxy_from_env,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("mean {task.fields[mean]:.3f}"),
        TimeElapsedColumn(),
    )
    total = 0.0
    async with client:
        with Progress(*columns, console=console, transient=True) as progress:
            bar = progress.add_task(f"{env.name} @ {endpoint.model}", total=len(task_ids), mean=0)

            def advance(score: TaskScore) -> None:
                nonlocal total
                total += score.score
                done = progress.tasks[0].completed + 1
                progress.update(bar, advance=1, mean=total / done)

            return await run_tasks(
                env,
                client,
                endpoint,
                task_ids,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
                on_result=advance,
            )


def summarise(env: Environment, endpoint: Endpoint, scores: list[TaskScore]) -> dict[str, Any]:
    """The JSON report: ``mean`` over all tasks (failures score 0), ``n`` and per-task rows."""
    latencies = sorted(s.latency for s in scores)
    counts = Counter(s.outcome for s in scores)
    return {
        "env": env.name,
        "version": env.version,
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
