"""`throne eval`: show a task or score a response offline, on the same environments."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from throne.cli import eval_remote
from throne.cli.main import CommandError
from throne.envs.base import Environment, TaskIdOutOfRange
from throne.envs.registry import UnknownEnvironment, get_environment
from throne.ports.sandbox import SandboxUnavailable


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "eval",
        help="show an environment's task or score a response to it offline",
        description=(
            "Evaluation environments locally. --show-task prints the prompt of task N; "
            "--answer-file F scores the response in F (a file, or - for stdin) against task N "
            "exactly as the validator would, running programs in the sandbox. "
            "--base-url URL --model M --tasks N runs N tasks against any OpenAI-compatible "
            "endpoint and prints a score table; with --env-url URL the tasks run on the env "
            "service at URL (any env that speaks the environment protocol, docs/envs.md)."
        ),
    )
    p.add_argument(
        "--env",
        required=True,
        metavar="ENV",
        help="environment name: SAT, ABD, DED, GUESS (multi-turn; --base-url only), "
        "or with --env-url the remote env's name",
    )
    p.add_argument("--task-id", type=int, metavar="N", help="task id within the env's id range")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--show-task", action="store_true", help="print the task's prompt")
    action.add_argument(
        "--answer-file", metavar="F", help="score the response in F (- reads stdin)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    eval_remote.add_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.base_url is not None:
        return eval_remote.run(args)
    try:
        env = get_environment(args.env)
    except UnknownEnvironment as exc:
        raise CommandError(str(exc)) from exc
    if args.show_task:
        return show_task(env, _task_id(args), args.json)
    if args.answer_file is not None:
        return score_answer(env, _task_id(args), args.answer_file, args.json)
    raise CommandError(
        "nothing to do: give --show-task, --answer-file F or --base-url URL (see --help)", 2
    )


def _task_id(args: argparse.Namespace) -> int:
    if args.task_id is None:
        raise CommandError("--task-id N is required", 2)
    return int(args.task_id)


def show_task(env: Environment, task_id: int, as_json: bool) -> int:
    task = _task(env, task_id)
    if as_json:
        body = {"env": task.env, "version": task.version, "task_id": task_id, "prompt": task.prompt}
        print(json.dumps(body, ensure_ascii=False))
    else:
        print(task.prompt)
    return 0


def score_answer(env: Environment, task_id: int, path: str, as_json: bool) -> int:
    task = _task(env, task_id)
    try:
        if path == "-":
            response = sys.stdin.read()
        else:
            with open(path, encoding="utf-8", errors="replace") as f:
                response = f.read()
    except OSError as exc:
        raise CommandError(f"cannot read answer file: {exc.strerror}: {path}") from exc
    try:
        result = env.evaluate(task, response)
    except SandboxUnavailable as exc:
        raise CommandError(f"cannot run programs here: {exc}") from exc
    if as_json:
        body = {
            "env": task.env,
            "version": task.version,
            "task_id": task_id,
            "score": result.score,
            "detail": result.detail,
        }
        print(json.dumps(body))
    else:
        print(f"{task.env} v{task.version} #{task_id}: score {result.score:g} ({result.detail})")
    return 0


def _task(env: Environment, task_id: int) -> Any:
    try:
        return env.task(task_id)
    except TaskIdOutOfRange as exc:
        raise CommandError(str(exc)) from exc
