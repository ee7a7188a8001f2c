"""The validator's episode loop (`play`): how an episode ends, and what it records."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from throne.envs.episode import TurnFailed, play
from throne.envs.protocol import Step
from throne.ports.chat_completions import ChatRequest, Completion, Failure, Result, Usage
from throne.ports.env_service import EvalRequest, Scored, Unscored
from throne.ports.model_endpoints import Endpoint

REQUEST = EvalRequest(task_id=4, seed=2**31 + 5, endpoint=Endpoint("http://m/v1", "m"))


@dataclass
class Model:
    """Answers with the scripted texts in turn (a `Failure` in the script is returned as is)."""

    script: list[str | Failure]
    asked: list[ChatRequest] = field(default_factory=list)

    async def complete(self, endpoint: Endpoint, request: ChatRequest) -> Result:
        self.asked.append(request)
        item = self.script[len(self.asked) - 1]
        if isinstance(item, Failure):
            return item
        return Completion(item, Usage(10, 2), 0.01, 1)

    def healthy(self, endpoint: Endpoint) -> bool:
        return True


@dataclass
class Counter:
    """Done when the model says "stop"; reward = the turns taken so far / 10."""

    never_ends: bool = False
    fail_at: int | None = None
    malformed: bool = False
    turns: int = 0
    stopped: list[str] = field(default_factory=list)

    async def reset(self, task_id: int, seed: int) -> Step:
        return Step(f"count for task {task_id}", "ep-1")

    async def step(self, episode_id: str, action: str) -> Step:
        self.turns += 1
        if self.fail_at == self.turns:
            raise TurnFailed("infra_error", "env_http_503", "busy")
        done = action == "stop" and not self.never_ends
        return Step(f"turn {self.turns}", episode_id, self.turns / 10, done)

    async def stop(self, episode_id: str) -> None:
        self.stopped.append(episode_id)


def run(turns: Counter, model: Model, max_turns: int = 5) -> Scored | Unscored:
    return asyncio.run(play(turns, model, REQUEST, max_turns=max_turns))


def test_an_episode_the_env_ends_scores_its_last_reward_and_keeps_the_conversation() -> None:
    turns, model = Counter(), Model(["go", "go", "stop"])
    out = run(turns, model)
    assert isinstance(out, Scored)
    assert out.score == 0.3 and out.detail == "done after 3 turns"
    assert out.usage.prompt_tokens == 30 and out.usage.completion_tokens == 6
    conversation = json.loads(out.transcript)
    assert [m["role"] for m in conversation] == ["user", "assistant"] * 3 + ["user"]
    assert conversation[0]["content"] == "count for task 4"
    assert turns.stopped == ["ep-1"]
    # The model saw the whole conversation each turn, with the seed within 31 bits.
    assert [len(r.messages) for r in model.asked] == [1, 3, 5]
    assert {r.seed for r in model.asked} == {5}


def test_an_episode_that_never_ends_stops_at_the_turn_limit() -> None:
    turns = Counter(never_ends=True)
    out = run(turns, Model(["stop"] * 10), max_turns=4)
    assert isinstance(out, Scored)
    assert out.score == 0.4 and out.detail.startswith("turn limit: 4 turns")
    assert turns.turns == 4 and turns.stopped == ["ep-1"]


def test_a_model_that_fails_mid_episode_ends_it_with_its_failure() -> None:
    turns = Counter()
    out = run(turns, Model(["go", Failure("model_error", "HTTP 400", 0.0, 1, 400)]))
    assert isinstance(out, Unscored)
    assert (out.kind, out.reason) == ("model_error", "model_answer_unusable")
    assert out.detail == "turn 2: HTTP 400"
    assert turns.stopped == ["ep-1"]
    unreachable = run(Counter(), Model([Failure("infra_error", "refused", 0.0, 1)]))
    assert isinstance(unreachable, Unscored)
    assert (unreachable.kind, unreachable.reason) == ("infra_error", "model_unreachable")


def test_an_env_that_fails_mid_episode_ends_it_with_the_envs_failure() -> None:
    turns = Counter(fail_at=2)
    out = run(turns, Model(["go", "go", "go"]))
    assert isinstance(out, Unscored)
    assert (out.kind, out.reason, out.detail) == ("infra_error", "env_http_503", "busy")
    assert len(json.loads(out.transcript)) == 4  # what was said before it failed is kept


def test_an_env_that_fails_to_start_an_episode_is_its_failure() -> None:
    class Refusing(Counter):
        async def reset(self, task_id: int, seed: int) -> Step:
            raise TurnFailed("model_error", "malformed_step", "observation must be a string")

    out = run(Refusing(), Model([]))
    assert isinstance(out, Unscored) and out.reason == "malformed_step"
