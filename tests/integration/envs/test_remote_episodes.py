"""`RemoteEpisodes` playing an interactive env service on loopback against a loopback model.

The env is a counting game: the model is shown the count and must answer the next number;
the episode is done when the count reaches three. Variants of the env live under paths of
their own (``/endless``, ``/malformed``...), and the model's name picks how it answers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.env_services import Hits, protocol_app
from throne.adapters.envs.remote import RemoteEpisodes
from throne.adapters.envs.transport import EnvProtocolClient
from throne.adapters.inference import AiohttpChatCompletions, RetryPolicy
from throne.envs.protocol import Call, Step, dump_answer, dump_failure, task_seed
from throne.miners import BackgroundServer
from throne.ports.env_service import EvalRequest, Outcome, Scored, Unscored
from throne.ports.model_endpoints import Endpoint

HITS = Hits()
TARGET = 3
HANG_SECONDS = 5.0  # how long the slow env takes over a step: past the test's timeout
_episodes = itertools.count()


@dataclass
class Game:
    count: int = 0


GAMES: dict[str, Game] = {}
GAMES_LOCK = threading.Lock()


def shown(count: int) -> str:
    return f"The count is {count}. Say the next number."


def answer(result: object) -> Response:
    return Response(dump_answer(result), media_type="application/json")


async def on_call(variant: str, call: Call) -> Response:
    kwargs = call.kwargs
    if call.method == "reset":
        if variant == "broken_reset":
            return Response(dump_failure("no such task"))
        if variant == "lone_surrogate":
            return Response(
                b'{"status": "success", "result": {"observation": "over \\ud800", '
                b'"episode_id": "x", "reward": 0.5, "done": true}}'
            )
        episode = f"{variant}-{next(_episodes)}"
        with GAMES_LOCK:
            GAMES[episode] = Game()
        return answer(Step(shown(0), episode).dump())
    if call.method == "stop":
        return answer({"stopped": kwargs["episode_id"]})
    if call.method != "step":
        return Response(dump_failure(f"no method {call.method}"))
    with GAMES_LOCK:
        game = GAMES.get(str(kwargs["episode_id"]))
    if game is None:
        return Response(dump_failure("unknown episode"))
    if variant == "malformed":
        return answer({"observation": 5, "episode_id": kwargs["episode_id"]})
    if variant == "slow":
        await asyncio.sleep(HANG_SECONDS)
    expected = str(game.count + 1)
    if str(kwargs["action"]).strip() != expected:
        return Response(dump_failure(f"expected {expected}, got {kwargs['action']!r}"))
    game.count += 1
    if variant == "endless":
        return answer(Step(shown(game.count), str(kwargs["episode_id"]), 0.01 * game.count).dump())
    done = game.count == TARGET
    observation = f"You reached {TARGET}." if done else shown(game.count)
    step = Step(observation, str(kwargs["episode_id"]), game.count / TARGET, done)
    return answer(step.dump())


def methods(variant: str) -> list[str] | None:
    return ["evaluate"] if variant == "bare" else ["reset", "step", "state", "stop"]


async def chat(request: Request) -> Response:
    """The model: says the next number, unless its name asks it to babble or to say nothing."""
    body = json.loads(await request.body())
    if body["model"] == "mute":
        return JSONResponse({"choices": []})
    last = body["messages"][-1]["content"]
    match = re.search(r"The count is (\d+)", last)
    text = "banana" if body["model"] == "babbler" or not match else str(int(match[1]) + 1)
    return JSONResponse(
        {
            "choices": [{"message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2},
        }
    )


@pytest.fixture(scope="module")
def env() -> Iterator[BackgroundServer]:
    with BackgroundServer(protocol_app(HITS, on_call, methods)) as running:
        yield running


@pytest.fixture(scope="module")
def model() -> Iterator[BackgroundServer]:
    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    with BackgroundServer(app) as running:
        yield running


def play(
    env: BackgroundServer,
    model: BackgroundServer,
    variant: str,
    *,
    name: str = "counter",
    max_turns: int = 10,
    timeout: float = 30.0,
) -> Outcome:
    request = EvalRequest(
        7, task_seed("COUNT", 7), Endpoint(f"{model.url}/v1", name), timeout=timeout
    )

    async def go() -> Outcome:
        async with AiohttpChatCompletions(retry=RetryPolicy(attempts=1, base=0.01)) as chat:
            client = EnvProtocolClient([f"{env.url}/{variant}"])
            episodes = RemoteEpisodes("COUNT", client, chat, max_turns=max_turns)
            try:
                return await episodes.evaluate(request)
            finally:
                await episodes.aclose()

    return asyncio.run(go())


def calls_of(variant: str) -> list[Call]:
    with HITS.lock:
        return [c for r, c in HITS.calls if r == variant]


def test_an_episode_is_played_to_its_end(env: BackgroundServer, model: BackgroundServer) -> None:
    outcome = play(env, model, "game")

    assert isinstance(outcome, Scored)
    assert (outcome.score, outcome.detail) == (1.0, "done after 3 turns")
    assert (outcome.usage.prompt_tokens, outcome.usage.completion_tokens) == (30, 6)
    assert json.loads(outcome.transcript) == [
        {"role": "user", "content": shown(0)},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": shown(1)},
        {"role": "assistant", "content": "2"},
        {"role": "user", "content": shown(2)},
        {"role": "assistant", "content": "3"},
        {"role": "user", "content": "You reached 3."},
    ]
    calls = calls_of("game")[-5:]
    assert [c.method for c in calls] == ["reset", "step", "step", "step", "stop"]
    assert dict(calls[0].kwargs) == {"task_id": 7, "seed": task_seed("COUNT", 7)}
    episode = calls[1].kwargs["episode_id"]
    assert [dict(c.kwargs) for c in calls[1:]] == [
        {"episode_id": episode, "action": "1"},
        {"episode_id": episode, "action": "2"},
        {"episode_id": episode, "action": "3"},
        {"episode_id": episode},
    ]


def test_an_episode_that_never_ends_stops_at_the_turn_limit(
    env: BackgroundServer, model: BackgroundServer
) -> None:
    outcome = play(env, model, "endless", max_turns=4)

    assert isinstance(outcome, Scored)
    assert outcome.detail.startswith("turn limit")
    assert outcome.score == pytest.approx(0.04)
    assert [c.method for c in calls_of("endless")[-6:]] == ["reset"] + ["step"] * 4 + ["stop"]


def test_a_model_off_format_ends_in_the_envs_verdict(
    env: BackgroundServer, model: BackgroundServer
) -> None:
    outcome = play(env, model, "game", name="babbler")

    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("model_error", "env_failed")
    assert outcome.detail == "expected 1, got 'banana'"
    assert calls_of("game")[-1].method == "stop"


def test_a_model_with_no_answer_is_a_model_error(
    env: BackgroundServer, model: BackgroundServer
) -> None:
    outcome = play(env, model, "game", name="mute")

    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("model_error", "model_answer_unusable")
    assert outcome.detail.startswith("turn 1")
    assert calls_of("game")[-1].method == "stop"


def test_a_malformed_step_is_a_model_error(env: BackgroundServer, model: BackgroundServer) -> None:
    outcome = play(env, model, "malformed")

    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("model_error", "malformed_step")
    assert calls_of("malformed")[-1].method == "stop"


def test_a_failed_reset_is_the_envs_fault_not_the_models(
    env: BackgroundServer, model: BackgroundServer
) -> None:
    outcome = play(env, model, "broken_reset")

    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("infra_error", "env_failed")


def test_an_episode_over_its_timeout_is_an_infra_error_and_still_stopped(
    env: BackgroundServer, model: BackgroundServer
) -> None:
    outcome = play(env, model, "slow", timeout=0.5)

    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("infra_error", "env_timeout")
    assert [c.method for c in calls_of("slow")[-3:]] == ["reset", "step", "stop"]


def test_an_observation_with_a_lone_surrogate_is_stored_escaped(
    env: BackgroundServer, model: BackgroundServer
) -> None:
    outcome = play(env, model, "lone_surrogate")

    assert isinstance(outcome, Scored)
    assert (outcome.score, outcome.detail) == (0.5, "done after 0 turns")
    assert outcome.transcript == b'[{"role":"user","content":"over \\ud800"}]'


def test_a_service_without_reset_and_step_is_never_called(
    env: BackgroundServer, model: BackgroundServer
) -> None:
    outcome = play(env, model, "bare")

    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("infra_error", "env_lacks_reset_step")
    assert calls_of("bare") == []
