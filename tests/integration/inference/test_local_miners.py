"""Local miners: deterministic skill, the environments' own answers, several miners per process."""

from __future__ import annotations

import httpx
import pytest

from tests.support.arithmetic_env import ArithmeticEnvironment
from throne.miners import Faults, MinerProfile, MinerServer
from throne.miners.answer import UNRECOGNISED, answer

ENV = ArithmeticEnvironment()


def test_skill_is_a_pure_function_of_name_revision_env_and_task() -> None:
    alice = MinerProfile("alice", "r1", skill=0.5)
    again = MinerProfile("alice", "r1", skill=0.5)
    other_revision = MinerProfile("alice", "r2", skill=0.5)
    solved = [alice.solves("ADD", i) for i in range(200)]
    assert solved == [again.solves("ADD", i) for i in range(200)]
    assert solved != [other_revision.solves("ADD", i) for i in range(200)]
    assert solved != [alice.solves("SAT", i) for i in range(200)]


@pytest.mark.parametrize("skill", [0.0, 0.3, 0.8, 1.0])
def test_the_share_of_solved_tasks_follows_the_skill(skill: float) -> None:
    miner = MinerProfile("m", skill=skill)
    share = sum(miner.solves("ADD", i) for i in range(4000)) / 4000
    assert abs(share - skill) < 0.03


def test_answers_score_one_exactly_on_the_tasks_the_miner_solves() -> None:
    miner = MinerProfile("carol", skill=0.6)
    for task_id in range(100):
        task = ENV.task(task_id)
        score = ENV.evaluate(task, answer(miner, [ENV], task.prompt)).score
        assert score == (1.0 if miner.solves("ADD", task_id) else 0.0)


def test_a_prompt_no_environment_knows_gets_a_refusal() -> None:
    assert answer(MinerProfile("m"), [ENV], "Tell me a joke.") == UNRECOGNISED


def test_fault_rates_beyond_one_are_rejected() -> None:
    with pytest.raises(ValueError, match="fault rates"):
        Faults(error_rate=0.7, hang_rate=0.5)
    with pytest.raises(ValueError, match="skill"):
        MinerProfile("m", skill=1.5)


def test_one_process_serves_several_miners_on_several_ports() -> None:
    strong, weak = MinerProfile("strong", skill=1.0), MinerProfile("weak", skill=0.0)
    with (
        MinerServer([strong, weak], [ENV]) as shared,
        MinerServer([MinerProfile("solo")], [ENV]) as solo,
    ):
        assert shared.port != solo.port
        health = httpx.get(f"{shared.url}/health").json()
        assert health == {"status": "ok", "models": ["strong", "weak"]}
        assert httpx.get(f"{solo.url}/").json()["models"] == ["solo"]
        models = httpx.get(f"{shared.base_url}/models").json()
        assert [m["id"] for m in models["data"]] == ["strong", "weak"]
        task = ENV.task(3)
        for name, score in (("strong", 1.0), ("weak", 0.0)):
            reply = httpx.post(
                f"{shared.base_url}/chat/completions",
                json={"model": name, "messages": [{"role": "user", "content": task.prompt}]},
            ).json()
            text = reply["choices"][0]["message"]["content"]
            assert ENV.evaluate(task, text).score == score
        assert shared.stats.by_model == {"strong": 1, "weak": 1}


def test_a_request_without_a_user_message_is_refused_with_400() -> None:
    with MinerServer([MinerProfile("m")], [ENV]) as server:
        url = f"{server.base_url}/chat/completions"
        assert httpx.post(url, content=b"{not json").status_code == 400
        assert httpx.post(url, json={"model": "m", "messages": []}).status_code == 400
