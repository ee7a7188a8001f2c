"""Local miners and remote eval on the project's own environments (SAT, ABD, DED)."""

from __future__ import annotations

import json

import pytest

from throne.cli.environment_lookup import installed_environments
from throne.cli.main import main
from throne.miners import MinerProfile, MinerServer
from throne.miners.answer import answer

ENVIRONMENTS = installed_environments()
pytestmark = pytest.mark.skipif(not ENVIRONMENTS, reason="no environment registry installed yet")
TASKS = 3


@pytest.mark.parametrize("name", sorted(ENVIRONMENTS) or ["none"])
def test_a_miner_answers_each_env_right_when_it_solves_and_wrong_otherwise(name: str) -> None:
    env = ENVIRONMENTS[name]
    envs = list(ENVIRONMENTS.values())
    start = env.id_range[0]
    for task_id in range(start, start + TASKS):
        task = env.task(task_id)
        right = answer(MinerProfile("sage", skill=1.0), envs, task.prompt)
        wrong = answer(MinerProfile("fool", skill=0.0), envs, task.prompt)
        assert env.evaluate(task, right).score == 1.0
        assert env.evaluate(task, wrong).score == 0.0


def test_eval_against_a_local_miner_scores_what_its_skill_decides(
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = ENVIRONMENTS["SAT"]
    miner = MinerProfile("judy", skill=0.5)
    with MinerServer([miner], list(ENVIRONMENTS.values())) as server:
        argv = ["eval", "--env", "SAT", "--base-url", server.base_url, "--model", "judy"]
        assert main([*argv, "--tasks", "12", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    start = env.id_range[0]
    expected = [1.0 if miner.solves("SAT", i) else 0.0 for i in range(start, start + 12)]
    assert [t["score"] for t in report["tasks"]] == expected
