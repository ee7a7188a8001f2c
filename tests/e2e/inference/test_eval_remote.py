"""`throne eval --base-url` and `throne miner serve`, end to end over loopback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.arithmetic_env import ArithmeticEnvironment
from throne.adapters.envs.in_process import InProcessEnv
from throne.adapters.inference import AiohttpChatCompletions
from throne.adapters.inference.env_run import TaskScore, run_tasks
from throne.cli.main import build_parser, main
from throne.envs import registry
from throne.envs.base import Environment, Evaluation, Task
from throne.miners import Faults, MinerProfile, MinerServer
from throne.miners.answer import UNRECOGNISED
from throne.ports.model_endpoints import Endpoint

ENV = ArithmeticEnvironment()
ENTRY_POINT = "from throne.cli.main import main; raise SystemExit(main())"
SERVE_ARGS = [
    "miner",
    "serve",
    "--port",
    "0",
    "--skill",
    "1",
    "--name",
    "gus",
    "--miner",
    "hal=0.2",
]


@pytest.fixture
def with_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    def environments(sandbox: object = None) -> dict[str, Environment]:
        return {"ADD": ENV}

    monkeypatch.setattr(registry, "environments", environments)


def test_eval_json_reports_the_mean_n_and_every_task_score(
    with_arithmetic: None, capsys: pytest.CaptureFixture[str]
) -> None:
    miner = MinerProfile("dave", skill=0.5)
    with MinerServer([miner], [ENV]) as server:
        argv = ["eval", "--env", "ADD", "--base-url", server.base_url, "--model", "dave"]
        code = main([*argv, "--tasks", "40", "--start", "100", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    expected = [1.0 if miner.solves("ADD", i) else 0.0 for i in range(100, 140)]
    assert [t["task_id"] for t in report["tasks"]] == list(range(100, 140))
    assert [t["score"] for t in report["tasks"]] == expected
    assert report["n"] == 40
    assert report["mean"] == pytest.approx(sum(expected) / 40)
    assert report["counts"] == {"ok": 40, "model_error": 0, "infra_error": 0}


def test_eval_counts_failed_calls_as_zero_and_names_their_kind(
    with_arithmetic: None, capsys: pytest.CaptureFixture[str]
) -> None:
    miner = MinerProfile("eve", skill=1.0, faults=Faults(malformed_rate=0.5))
    with MinerServer([miner], [ENV], seed=3) as server:
        argv = ["eval", "--env", "ADD", "--base-url", server.base_url, "--model", "eve"]
        assert main([*argv, "--tasks", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    counts = report["counts"]
    assert counts["model_error"] > 0 and counts["ok"] > 0
    assert report["mean"] == pytest.approx(counts["ok"] / 30)


def test_eval_prints_a_score_table(
    with_arithmetic: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with MinerServer([MinerProfile("fay", skill=1.0)], [ENV]) as server:
        argv = ["eval", "--env", "ADD", "--base-url", server.base_url, "--model", "fay"]
        assert main([*argv, "--tasks", "5", "--per-task"]) == 0
    out = capsys.readouterr().out
    assert "ADD v1" in out and "1.000" in out and "correct" in out


def test_eval_fails_in_one_line_when_nothing_answers(
    with_arithmetic: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--env", "ADD", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    assert main([*argv, "--tasks", "2", "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("throne: error: no task got an answer from http://127.0.0.1:9/v1")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--env", "NOPE"], "unknown environment 'NOPE'"),
        (["--env", "ADD", "--tasks", "0"], "--tasks must be at least 1"),
        (["--env", "ADD", "--start", "9999", "--tasks", "5"], "do not fit"),
        (["--env", "ADD", "--base-url", "localhost:1"], "must start with http"),
    ],
)
def test_eval_rejects_bad_input_in_one_line(
    with_arithmetic: None, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["eval", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("stop", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_miner_serve_answers_health_then_completions_and_stops_on_a_signal(
    stop: signal.Signals, exit_code: int
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY_POINT, *SERVE_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/v1)", banner)
        assert match, banner
        base_url = match.group(1)
        root = base_url.removesuffix("/v1")
        health = _poll(f"{root}/health")
        assert health == {"status": "ok", "models": ["gus", "hal"]}
        reply = httpx.post(
            f"{base_url}/chat/completions",
            json={"model": "gus", "messages": [{"role": "user", "content": "Hello?"}]},
        )
        assert reply.json()["choices"][0]["message"]["content"] == UNRECOGNISED
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 130


def test_miner_serve_rejects_a_busy_port_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with MinerServer([MinerProfile("x")], []) as server:
        assert main(["miner", "serve", "--port", str(server.port), "--skill", "1"]) == 1
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def _poll(url: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5).json()
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.02)


def test_the_eval_command_accepts_the_remote_options() -> None:
    args = build_parser().parse_args(
        ["eval", "--env", "ADD", "--base-url", "http://h/v1", "--model", "m", "--tasks", "3"]
    )
    assert (args.base_url, args.model, args.tasks) == ("http://h/v1", "m", 3)


class BrittleArithmetic(ArithmeticEnvironment):
    """Arithmetic with a scoring bug on odd task ids."""

    def evaluate(self, task: Task, response: str) -> Evaluation:
        if task.task_id % 2:
            raise RecursionError("a scorer that recursed too deep")
        return super().evaluate(task, response)


def test_an_answer_that_breaks_scoring_fails_its_task_only() -> None:
    env = BrittleArithmetic()

    async def go(base_url: str) -> list[TaskScore]:
        async with AiohttpChatCompletions() as client:
            service = InProcessEnv(env, client)
            return await run_tasks(service, Endpoint(base_url, "ivy"), range(10, 16))

    with MinerServer([MinerProfile("ivy", skill=1.0)], [env]) as server:
        scores = asyncio.run(go(server.base_url))
    assert [s.task_id for s in scores] == list(range(10, 16))
    assert [s.outcome for s in scores] == ["ok", "infra_error"] * 3
    assert [s.score for s in scores] == [1.0, 0.0] * 3
    assert scores[1].detail == "evaluation failed: RecursionError: a scorer that recursed too deep"
