"""`throne env serve`: an environment as a service, started as an operator starts it."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.command import THRONE, throne
from throne.envs.protocol import Call, Evaluation, Step, parse_answer, parse_methods, task_seed
from throne.envs.sat import SatEnvironment
from throne.miners import MinerProfile, MinerServer

BANNER = re.compile(r"^serving (\S+) at (http://127\.0\.0\.1:\d+)$")


def _first_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """The first line the process prints, waiting at most ``timeout`` seconds for it."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"nothing printed within {timeout}s")
    return process.stdout.readline().rstrip("\n")


@contextmanager
def env_serve(*argv: str, cwd: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``throne env serve ARGV`` in a subprocess, and the URL it says it listens on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    process = subprocess.Popen(
        [sys.executable, "-c", THRONE, "env", "serve", "--port", "0", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = _first_line(process)
        match = BANNER.match(line)
        assert match, line
        yield process, match.group(2)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


@pytest.mark.parametrize(
    ("name", "methods"),
    [("SAT", {"evaluate"}), ("ABD", {"evaluate"}), ("GUESS", {"reset", "step", "state", "stop"})],
)
def test_env_serve_prints_its_url_answers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, name: str, methods: set[str]
) -> None:
    with env_serve("--env", name, cwd=tmp_path) as (process, url):
        assert httpx.get(f"{url}/health", timeout=10).json() == {"status": "ok"}
        assert parse_methods(httpx.get(f"{url}/methods", timeout=10).content) == methods
        code, err = _stop(process, signal.SIGTERM)
    assert code == 0
    assert err.strip() == "stopped"


def test_env_serve_evaluates_a_task_asking_the_model_itself(tmp_path: Path) -> None:
    with (
        MinerServer([MinerProfile("sage", skill=1.0)], [SatEnvironment()]) as model,
        env_serve("--env", "SAT", "--concurrency", "2", cwd=tmp_path) as (process, url),
    ):
        kwargs = {"task_id": 4, "seed": task_seed("SAT", 4), "model": "sage"}
        body = Call("evaluate", {**kwargs, "base_url": model.base_url}).dump()
        reply = httpx.post(f"{url}/call", content=body, timeout=60)
        assert Evaluation.parse(parse_answer(reply.content)).score == 1.0
        assert _stop(process, signal.SIGINT)[0] == 130


def test_env_serve_plays_guess_over_the_interactive_methods(tmp_path: Path) -> None:
    with env_serve("--env", "GUESS", cwd=tmp_path) as (process, url):
        reset = Call("reset", {"task_id": 3}).dump()
        first = Step.parse(parse_answer(httpx.post(f"{url}/call", content=reset).content))
        assert first.observation.endswith("[task GUESS v1 #3]")
        step = Call("step", {"episode_id": first.episode_id, "action": "no guess"}).dump()
        wasted = Step.parse(parse_answer(httpx.post(f"{url}/call", content=step).content))
        assert "No guess found" in wasted.observation and not wasted.done
        assert _stop(process, signal.SIGTERM)[0] == 0


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--env", "MATH"], 2, "unknown environment 'MATH' (known: ABD, DED, GUESS, SAT)"),
        (["--env", "SAT", "--port", "70000"], 2, "--port must be within [0, 65535], got 70000"),
        (["--env", "SAT", "--concurrency", "0"], 2, "--concurrency must be at least 1, got 0"),
    ],
    ids=["unknown env", "port", "concurrency"],
)
def test_env_serve_refuses_bad_input_in_one_line(
    tmp_path: Path, argv: list[str], code: int, message: str
) -> None:
    done = throne("env", "serve", *argv, cwd=tmp_path, timeout=60)
    assert done.returncode == code
    assert done.stderr.strip() == f"throne: error: {message}"
    assert done.stdout == ""


def test_env_serve_says_so_when_its_port_is_busy(tmp_path: Path) -> None:
    with MinerServer([MinerProfile("x")], []) as busy:
        port = busy.port
        done = throne("env", "serve", "--env", "SAT", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"throne: error: cannot listen on 127.0.0.1:{port}: ")
    assert len(done.stderr.strip().splitlines()) == 1


def test_env_serve_help_names_the_protocol(tmp_path: Path) -> None:
    done = throne("env", "serve", "--help", cwd=tmp_path, timeout=60)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "GET /health, GET /methods, and POST /call" in text
    assert "evaluate(task_id, seed, model, base_url, ...)" in text
    assert "reset, step, state and stop" in text
