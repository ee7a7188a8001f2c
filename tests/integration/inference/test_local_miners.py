"""Local miners: deterministic skill, the environments' own answers, several miners per process."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.support.arithmetic_env import ArithmeticEnvironment
from throne.envs.guess import GuessEnvironment
from throne.miners import PROFILE_FILE, Faults, MinerProfile, MinerServer, NoMinerProfile
from throne.miners.answer import UNRECOGNISED, answer

ENV = ArithmeticEnvironment()
GUESS = GuessEnvironment()


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


def test_a_model_folder_names_its_miner_and_a_served_name_keeps_its_answers(
    tmp_path: Path,
) -> None:
    """An engine serves a downloaded folder under the name its host asks for; the answers are
    still the folder's miner's, so a hosted miner plays as it would in-process."""
    miner = MinerProfile("dana", "r7", skill=0.5)
    (tmp_path / PROFILE_FILE).write_bytes(miner.to_file())
    loaded = MinerProfile.from_dir(tmp_path)
    assert loaded == miner
    served = replace(loaded, served_as="org/dana-model")
    with MinerServer([served], [ENV]) as server:
        models = httpx.get(f"{server.base_url}/models").json()
        assert [m["id"] for m in models["data"]] == ["org/dana-model"]
        url = f"{server.base_url}/chat/completions"
        for task_id in range(20):
            task = ENV.task(task_id)
            messages = [{"role": "user", "content": task.prompt}]
            reply = httpx.post(url, json={"model": "org/dana-model", "messages": messages})
            assert reply.json()["choices"][0]["message"]["content"] == answer(
                miner, [ENV], task.prompt
            )
        refused = httpx.post(url, json={"model": "dana", "messages": messages})
        assert refused.status_code == 404


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "holds no throne-miner.json"),
        (b"{not json", "is not JSON"),
        (b"[1, 2]", "must hold a JSON object"),
        (b'{"name": "", "skill": 0.5}', "name and revision must be non-empty strings"),
        (b'{"name": "m", "skill": "high"}', "skill must be a number"),
        (b'{"name": "m", "skill": true}', "skill must be a number"),
        (b'{"name": "m", "skill": 1.5}', "skill must lie in [0, 1]"),
    ],
    ids=["missing", "not json", "not an object", "no name", "skill text", "skill bool", "too high"],
)
def test_a_folder_without_a_readable_profile_is_named(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    if content is not None:
        (tmp_path / PROFILE_FILE).write_bytes(content)
    with pytest.raises(NoMinerProfile) as caught:
        MinerProfile.from_dir(tmp_path)
    assert message in str(caught.value)


def _play_guess(url: str, model: str, task_id: int) -> tuple[float, list[dict[str, str]]]:
    """One GUESS game against a local miner over HTTP, the whole conversation sent each turn."""
    episode = GUESS.episode(task_id, 0)
    messages = [{"role": "user", "content": episode.first_observation}]
    for _ in range(GUESS.max_turns):
        reply = httpx.post(url, json={"model": model, "messages": messages}).json()
        action = reply["choices"][0]["message"]["content"]
        messages.append({"role": "assistant", "content": action})
        step = episode.act(action)
        messages.append({"role": "user", "content": step.observation})
        if step.done:
            return step.reward, messages
    raise AssertionError("the game did not end")


def test_a_miner_plays_a_guess_game_from_the_observations_so_far() -> None:
    sage, fool, half = (MinerProfile(n, skill=s) for n, s in (("sage", 1), ("fool", 0), ("h", 0.5)))
    with MinerServer([sage, fool, half], [ENV, GUESS]) as server:
        url = f"{server.base_url}/chat/completions"
        for task_id in range(6):
            reward, messages = _play_guess(url, "sage", task_id)
            assert reward == 1.0
            observations = [m["content"] for m in messages if m["role"] == "user"]
            assert messages[-2]["content"] == GUESS.next_action(task_id, observations[:-1], True)
            assert _play_guess(url, "fool", task_id)[0] == 0.0
            expected = 1.0 if half.solves("GUESS", task_id) else 0.0
            assert _play_guess(url, "h", task_id)[0] == expected


def test_serving_guess_leaves_single_turn_answers_byte_for_byte_the_same() -> None:
    miner = MinerProfile("m", skill=0.5)
    prompts = [ENV.task(i).prompt for i in range(10)] + ["Tell me a joke."]
    # A conversation opened by another prompt is not a game, whatever its last message says.
    game_later = [ENV.task(1).prompt, GUESS.episode(1, 0).first_observation]
    conversations = [[p] for p in prompts] + [game_later]
    bodies = []
    for envs in ([ENV], [ENV, GUESS]):
        with MinerServer([miner], envs) as server:
            url = f"{server.base_url}/chat/completions"
            answers = []
            for users in conversations:
                messages = [{"role": "user", "content": u} for u in users]
                body = httpx.post(url, json={"model": "m", "messages": messages}).json()
                del body["created"]
                answers.append(body)
            bodies.append(answers)
    assert bodies[0] == bodies[1]
