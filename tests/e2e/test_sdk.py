"""`throne.sdk`: the documented example runs as written, and its records are the CLI's."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from throne import sdk
from throne.cli.main import main
from throne.envs.base import TaskIdOutOfRange
from throne.envs.registry import environments
from throne.miners import MinerProfile, MinerServer

DOC = Path(__file__).parents[2] / "docs" / "sdk.md"
MINER = MinerProfile("my-model", skill=0.7)


@pytest.fixture(scope="module")
def base_url() -> object:
    with MinerServer([MINER], list(environments().values())) as server:
        yield server.base_url


def test_the_documented_example_runs_as_written(base_url: str, tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    example = blocks[0]
    assert 'BASE_URL = "http://127.0.0.1:8000/v1"' in example
    script = tmp_path / "example.py"
    script.write_text(example.replace("http://127.0.0.1:8000/v1", base_url))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    assert "SAT v1: task ids in" in out and "GUESS v1" in out
    assert "20/20 task" in out
    solved = sum(MINER.solves("SAT", i) for i in range(20))
    assert f"SAT mean {solved / 20:.2f} over 20 tasks" in out


def test_listing_and_tasks() -> None:
    names = [e.name for e in sdk.environments()]
    assert names[:3] == ["SAT", "ABD", "DED"] and "GUESS" in names
    assert {e.turns for e in sdk.environments() if e.name == "GUESS"} == {"multi"}
    view = sdk.task("SAT", 7)
    assert view.prompt == environments()["SAT"].task(7).prompt
    assert view.prompt.rstrip().endswith("[task SAT v1 #7]")
    assert "[task GUESS v1 #3]" in sdk.task("GUESS", 3).prompt
    with pytest.raises(sdk.UnknownEnv, match="unknown environment 'NOPE'"):
        sdk.task("NOPE", 1)
    with pytest.raises(sdk.UnknownEnv):
        sdk.env("NOPE")
    with pytest.raises(TaskIdOutOfRange):
        sdk.task("ABD", 10**9)


def test_the_sdk_gives_the_records_the_cli_prints(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    results = asyncio.run(
        sdk.env("SAT").evaluate(base_url=base_url, model="my-model", task_ids=range(30, 40))
    )
    assert main(["eval", "--env", "SAT", "--base-url", base_url, "--model", "my-model",
                 "--start", "30", "--tasks", "10", "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert [(t["task_id"], t["score"], t["outcome"]) for t in report["tasks"]] == [
        (r.task_id, r.score, r.outcome) for r in results
    ]
    assert [r.score for r in results] == [float(MINER.solves("SAT", i)) for i in range(30, 40)]


def test_bad_arguments_raise_before_any_call(base_url: str) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(
            sdk.env("SAT").evaluate(base_url=base_url, model="m", task_ids=[1], concurrency=0)
        )
    with pytest.raises(ValueError, match="url must be http"):
        asyncio.run(sdk.env("X", "ftp://h").evaluate(base_url=base_url, model="m", task_ids=[1]))
