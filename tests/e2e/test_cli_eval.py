from __future__ import annotations

import json
from pathlib import Path

import pytest

from throne.cli.main import main
from throne.envs.registry import get_environment


def test_show_task_prints_the_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--env", "SAT", "--task-id", "7", "--show-task"]) == 0
    assert capsys.readouterr().out.strip() == get_environment("SAT").task(7).prompt


def test_answer_file_is_scored_with_json_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = get_environment("SAT")
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text(env.reference_answer(env.task(7)))
    bad.write_text(env.wrong_answer(env.task(7), 0))
    assert (
        main(["eval", "--env", "SAT", "--task-id", "7", "--answer-file", str(good), "--json"]) == 0
    )
    body = json.loads(capsys.readouterr().out)
    assert body["score"] == 1.0 and body["detail"] and body["task_id"] == 7
    assert main(["eval", "--env", "SAT", "--task-id", "7", "--answer-file", str(bad)]) == 0
    assert "score 0" in capsys.readouterr().out


def test_program_envs_score_answers_through_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = get_environment("ABD")
    answer = tmp_path / "a.txt"
    answer.write_text(env.reference_answer(env.task(2)))
    assert (
        main(["eval", "--env", "ABD", "--task-id", "2", "--answer-file", str(answer), "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["score"] == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "NOPE", "--task-id", "1", "--show-task"], "known: ABD, DED, SAT"),
        (["--env", "SAT", "--task-id", "-5", "--show-task"], "outside"),
        (["--env", "SAT", "--show-task"], "--task-id"),
        (["--env", "SAT", "--task-id", "1", "--answer-file", "/no/such/file"], "cannot read"),
        (["--env", "SAT", "--task-id", "1"], "nothing to do"),
    ],
)
def test_bad_input_gives_one_line_errors_and_a_non_zero_exit(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", *argv]) != 0
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
