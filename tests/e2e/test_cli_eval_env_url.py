"""`throne eval --env-url`: a model scored on an env service gets the table and the JSON of an
in-process run, with the same scores."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.ports import refusing_port
from throne.adapters.envs.server import env_app
from throne.adapters.inference.client import AiohttpChatCompletions
from throne.adapters.inference.policy import RetryPolicy
from throne.cli.main import main
from throne.envs.guess import GuessEnvironment
from throne.envs.sat import SatEnvironment
from throne.miners import BackgroundServer, MinerProfile, MinerServer

SAT, GUESS = SatEnvironment(), GuessEnvironment()
MINER = MinerProfile("kim", skill=0.6)


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, str]]:
    chat = AiohttpChatCompletions(retry=RetryPolicy(attempts=1))
    with (
        MinerServer([MINER], [SAT, GUESS]) as miners,
        BackgroundServer(env_app(SAT, client=chat), lifespan=True) as sat,
        BackgroundServer(env_app(GUESS), lifespan=True) as guess,
    ):
        yield {"model": miners.base_url, "SAT": sat.url, "GUESS": guess.url}


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(["eval", "--json", "--model", "kim", "--tasks", "12", *argv]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def rows(r: dict) -> list[tuple[int, float, str]]:  # type: ignore[type-arg]
    return [(t["task_id"], t["score"], t["outcome"]) for t in r["tasks"]]


def test_an_env_service_scores_as_the_env_in_process(
    world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    here = report(capsys, "--env", "SAT", "--base-url", world["model"])
    there = report(capsys, "--env", "SAT", "--base-url", world["model"], "--env-url", world["SAT"])
    assert rows(there) == rows(here)
    assert [s for _, s, _ in rows(there)] == [float(MINER.solves("SAT", i)) for i in range(12)]
    assert (there["version"], there["env_url"]) == ("remote", world["SAT"])
    assert there["counts"] == {"ok": 12, "model_error": 0, "infra_error": 0}


def test_a_multi_turn_service_is_played_from_here(
    world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    here = report(capsys, "--env", "GUESS", "--base-url", world["model"])
    there = report(
        capsys,
        "--env",
        "GUESS",
        "--base-url",
        world["model"],
        "--env-url",
        world["GUESS"],
        "--interface",
        "interactive",
        "--max-turns",
        str(GUESS.max_turns),
    )
    assert rows(there) == rows(here)
    assert [s for _, s, _ in rows(there)] == [float(MINER.solves("GUESS", i)) for i in range(12)]


def test_the_table_names_the_env_and_the_model(
    world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--env", "SAT", "--env-url", world["SAT"], "--base-url", world["model"]]
    assert main([*argv, "--model", "kim", "--tasks", "3"]) == 0
    out = capsys.readouterr().out
    assert "SAT vremote" in out and "kim" in out


def test_an_env_nobody_serves_is_a_one_line_error(
    world: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}"
        argv = ["eval", "--env", "X", "--env-url", url, "--base-url", world["model"]]
        code = main([*argv, "--model", "kim", "--tasks", "2", "--json"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"no task got an answer from {url}: env_unreachable" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--env-url", "ftp://h"], "--env-url must start with http"),
        (["--env-url", "http://h", "--eval-param", "novalue"], "--eval-param must be KEY=VALUE"),
        (["--max-turns", "0"], "--max-turns must be at least 1"),
    ],
)
def test_bad_service_options_are_one_line_errors(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--env", "SAT", "--base-url", "http://m/v1", "--model", "m", *extra]
    assert main(argv) == 1  # as the other bad values of `throne eval`
    assert message in capsys.readouterr().err
