"""throne's envs behind the environment protocol, over real loopback HTTP, with local miners
as the models: the same scores as in-process, and the documented status for every failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support.ports import refusing_port
from throne.adapters.envs import server as env_server
from throne.adapters.envs.in_process import InProcessEnv, InProcessEpisodes
from throne.adapters.envs.server import env_app
from throne.adapters.inference.client import AiohttpChatCompletions
from throne.adapters.inference.policy import RetryPolicy
from throne.envs.abd import AbdEnvironment
from throne.envs.base import Environment
from throne.envs.ded import DedEnvironment
from throne.envs.episode import play
from throne.envs.guess import GuessEnvironment
from throne.envs.protocol import (
    MAX_BODY_BYTES,
    Call,
    Evaluation,
    Step,
    parse_answer,
    parse_methods,
    task_seed,
)
from throne.envs.sandbox import ForkServerSandbox
from throne.envs.sat import SatEnvironment
from throne.miners import BackgroundServer, Faults, MinerProfile, MinerServer
from throne.ports.chat_completions import ChatRequest
from throne.ports.env_service import EvalRequest, Scored
from throne.ports.model_endpoints import Endpoint

SAT = SatEnvironment()
GUESS = GuessEnvironment()
MINERS = [MinerProfile("sage", skill=1.0), MinerProfile("fool", skill=0.0)]
MINERS += [MinerProfile("half", skill=0.5), MinerProfile("stuck", faults=Faults(hang_rate=1.0))]


def client() -> AiohttpChatCompletions:
    return AiohttpChatCompletions(retry=RetryPolicy(attempts=1))


@pytest.fixture(scope="module")
def miners() -> Iterator[MinerServer]:
    envs = [SAT, AbdEnvironment(), DedEnvironment(), GUESS]
    with MinerServer(MINERS, envs) as server:
        yield server


def serve(env: Environment | GuessEnvironment, concurrency: int = 4) -> BackgroundServer:
    if isinstance(env, Environment):
        app = env_app(env, client=client(), concurrency=concurrency)
    else:
        app = env_app(env)
    return BackgroundServer(app, lifespan=True)


@pytest.fixture(scope="module")
def sat() -> Iterator[BackgroundServer]:
    with serve(SAT) as server:
        yield server


@pytest.fixture(scope="module")
def guess() -> Iterator[BackgroundServer]:
    with serve(GUESS) as server:
        yield server


def call(server: BackgroundServer, method: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/call", content=Call(method, kwargs).dump(), timeout=60)


def evaluate_kwargs(miners: MinerServer, model: str, task_id: int, **more: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "seed": task_seed("SAT", task_id),
        "model": model,
        "base_url": miners.base_url,
        **more,
    }


def in_process(env: Environment, miners: MinerServer, model: str, task_id: int) -> Scored:
    async def go() -> Scored:
        async with client() as chat:
            endpoint = Endpoint(miners.base_url, model)
            request = EvalRequest(task_id, task_seed(env.name, task_id), endpoint)
            outcome = await InProcessEnv(env, chat).evaluate(request)
        assert isinstance(outcome, Scored), outcome
        return outcome

    return asyncio.run(go())


def test_health_and_methods_say_what_each_env_offers(
    sat: BackgroundServer, guess: BackgroundServer
) -> None:
    assert httpx.get(f"{sat.url}/health").json() == {"status": "ok"}
    assert parse_methods(httpx.get(f"{sat.url}/methods").content) == {"evaluate"}
    methods = parse_methods(httpx.get(f"{guess.url}/methods").content)
    assert methods == {"reset", "step", "state", "stop"}
    listed = httpx.get(f"{sat.url}/methods").json()["methods"][0]
    assert listed["signature"].startswith("(task_id: int, seed: int, model: str, base_url: str")


def test_sat_evaluated_behind_the_protocol_scores_as_in_process(
    sat: BackgroundServer, miners: MinerServer
) -> None:
    seen = set()
    for model in ("sage", "fool", "half"):
        for task_id in range(4):
            reply = call(sat, "evaluate", **evaluate_kwargs(miners, model, task_id))
            assert reply.status_code == 200
            result = Evaluation.parse(parse_answer(reply.content))
            local = in_process(SAT, miners, model, task_id)
            assert result.score == local.score
            seen.add(result.score)
            prompt = SAT.task(task_id).prompt
            assert result.conversation == (
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": local.transcript.decode()},
            )
            assert result.completion_tokens == local.usage.completion_tokens > 0
    assert seen == {0.0, 1.0}


@pytest.mark.parametrize("kind", [AbdEnvironment, DedEnvironment], ids=["ABD", "DED"])
def test_program_envs_score_in_the_sandbox_as_in_process(
    kind: type[AbdEnvironment | DedEnvironment], sandbox: ForkServerSandbox, miners: MinerServer
) -> None:
    env = kind(sandbox)
    with serve(env) as server:
        for model in ("sage", "fool"):
            for task_id in range(2):
                kwargs = evaluate_kwargs(miners, model, task_id, seed=task_seed(env.name, task_id))
                result = Evaluation.parse(parse_answer(call(server, "evaluate", **kwargs).content))
                assert result.score == in_process(env, miners, model, task_id).score
                assert result.score == (1.0 if model == "sage" else 0.0)


def test_extra_eval_params_and_positional_arguments_are_taken(
    sat: BackgroundServer, miners: MinerServer
) -> None:
    extra = evaluate_kwargs(miners, "sage", 5, task_type="sat", max_iterations=3)
    assert Evaluation.parse(parse_answer(call(sat, "evaluate", **extra).content)).score == 1.0
    body = Call("evaluate", {}, (5, 123, "sage", miners.base_url)).dump()
    reply = httpx.post(f"{sat.url}/call", content=body)
    assert Evaluation.parse(parse_answer(reply.content)).score == 1.0


class HttpTurns:
    """The interactive interface over the protocol, as a validator drives it."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self._http = http
        self._url = url

    async def _call(self, method: str, **kwargs: Any) -> Step:
        reply = await self._http.post(f"{self._url}/call", content=Call(method, kwargs).dump())
        return Step.parse(parse_answer(reply.content))

    async def reset(self, task_id: int, seed: int) -> Step:
        return await self._call("reset", task_id=task_id, seed=seed)

    async def step(self, episode_id: str, action: str) -> Step:
        return await self._call("step", episode_id=episode_id, action=action)

    async def stop(self, episode_id: str) -> None:
        await self._call("stop", episode_id=episode_id)


def test_guess_played_over_the_protocol_matches_the_game_played_in_process(
    guess: BackgroundServer, miners: MinerServer
) -> None:
    async def go(model: str, task_id: int) -> tuple[Scored, Scored]:
        endpoint = Endpoint(miners.base_url, model)
        request = EvalRequest(task_id, task_seed("GUESS", task_id), endpoint)
        async with client() as chat, httpx.AsyncClient() as http:
            remote = await play(HttpTurns(http, guess.url), chat, request, max_turns=12)
            local = await InProcessEpisodes(GUESS, chat).evaluate(request)
        assert isinstance(remote, Scored) and isinstance(local, Scored)
        return remote, local

    for model, reward in (("sage", 1.0), ("fool", 0.0)):
        for task_id in (0, 1, 999_999):
            remote, local = asyncio.run(go(model, task_id))
            assert remote.score == local.score == reward
            assert remote.transcript == local.transcript
            assert remote.detail == local.detail


def test_an_episode_is_stepped_stated_and_stopped_by_id(guess: BackgroundServer) -> None:
    def step_of(reply: httpx.Response) -> Step:
        assert reply.status_code == 200
        return Step.parse(parse_answer(reply.content))

    first = step_of(call(guess, "reset", task_id=9))
    assert first.observation == GUESS.episode(9, 0).first_observation and not first.done
    action = f"<answer>{GUESS.game(9).secret}</answer>"
    won = step_of(call(guess, "step", episode_id=first.episode_id, action=action))
    assert (won.reward, won.done) == (1.0, True)
    assert step_of(call(guess, "state", episode_id=first.episode_id)) == won
    assert step_of(call(guess, "stop", episode_id=first.episode_id)) == won
    for method, kwargs in (
        ("state", {}),
        ("stop", {}),
        ("step", {"action": "<answer>1</answer>"}),
    ):
        gone = call(guess, method, episode_id=first.episode_id, **kwargs)
        assert gone.status_code == 404
        assert gone.json()["status"] == "failed"
        assert "unknown_episode" in gone.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (Call("score").dump(), 404, "unknown method 'score': SAT offers evaluate"),
        (b'{"method": "evaluate", "kwargs": ', 400, "not_json"),
        (b'["evaluate"]', 400, "malformed_call"),
        (Call("evaluate", {"task_id": 1}).dump(), 400, "missing a required argument: 'seed'"),
        (
            Call("evaluate", {"task_id": "1", "seed": 0, "model": "m", "base_url": "http://h"}),
            400,
            "bad arguments to evaluate: task_id must be an integer, got '1'",
        ),
        (
            Call("evaluate", {"task_id": -1, "seed": 0, "model": "m", "base_url": "http://h"}),
            400,
            "task_id -1 outside this env's ids",
        ),
        (
            Call("evaluate", {"task_id": 1, "seed": 0, "model": "m", "base_url": "h:1"}),
            400,
            "base_url must be an http(s) URL",
        ),
        (
            Call(
                "evaluate",
                {"task_id": 1, "seed": 0, "model": "m", "base_url": "http://h", "timeout": 0},
            ),
            400,
            "timeout must be positive",
        ),
        (b"x" * (MAX_BODY_BYTES + 1), 413, "body_too_large"),
    ],
    ids=["method", "json", "shape", "missing", "type", "range", "url", "timeout", "huge"],
)
def test_a_bad_call_gets_its_status_and_a_failure_that_says_why(
    sat: BackgroundServer, body: bytes | Call, status: int, error: str
) -> None:
    content = body.dump() if isinstance(body, Call) else body
    reply = httpx.post(f"{sat.url}/call", content=content)
    assert reply.status_code == status
    answer = reply.json()
    assert answer["status"] == "failed" and answer["result"] is None
    assert error in answer["error"]


def test_an_interactive_call_with_arguments_it_does_not_take_is_refused(
    guess: BackgroundServer,
) -> None:
    reply = call(guess, "step", episode_id="ep-1", action="<answer>1</answer>", temperature=0)
    assert reply.status_code == 400
    assert "unexpected keyword argument 'temperature'" in reply.json()["error"]
    assert call(guess, "evaluate", task_id=1).status_code == 404
    assert call(guess, "reset", task_id=1_000_000).status_code == 400


def test_a_model_that_fails_the_request_is_a_model_error_answered_200(
    sat: BackgroundServer, miners: MinerServer
) -> None:
    reply = call(sat, "evaluate", **evaluate_kwargs(miners, "nobody", 1))
    assert reply.status_code == 200
    assert reply.json()["error"].startswith("model_error: model_answer_unusable: HTTP 404")


def test_a_model_that_is_down_is_an_infra_error_answered_502(sat: BackgroundServer) -> None:
    with refusing_port() as port:
        kwargs = {"task_id": 1, "seed": 1, "model": "m", "base_url": f"http://127.0.0.1:{port}/v1"}
        reply = call(sat, "evaluate", **kwargs)
    assert reply.status_code == 502
    assert reply.json()["error"].startswith("infra_error: ")


def test_a_model_that_never_answers_is_cut_at_the_calls_timeout(
    sat: BackgroundServer, miners: MinerServer
) -> None:
    reply = call(sat, "evaluate", **evaluate_kwargs(miners, "stuck", 1, timeout=0.5))
    assert reply.status_code == 502
    assert "no answer within the call's timeout of 0.5s" in reply.json()["error"]


def test_a_call_with_no_result_within_timeout_and_grace_is_an_env_timeout_answered_504(
    miners: MinerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bound holds for the call that runs and for the one waiting for its slot."""
    monkeypatch.setattr(env_server, "CALL_GRACE_SECONDS", 0.0)
    with serve(SAT, concurrency=1) as server, ThreadPoolExecutor(2) as pool:
        kwargs = evaluate_kwargs(miners, "stuck", 1, timeout=1.0)
        replies = list(pool.map(lambda _: call(server, "evaluate", **kwargs), range(2)))
    assert [r.status_code for r in replies] == [504, 504]
    errors = {r.json()["error"] for r in replies}
    assert errors == {"infra_error: env_timeout: no result within 1s"}


def test_evaluations_in_flight_never_exceed_the_concurrency(miners: MinerServer) -> None:
    slow = MinerProfile("slow", faults=Faults(latency_ms=200))
    with MinerServer([slow], [SAT]) as model, serve(SAT, concurrency=2) as server:
        kwargs = [evaluate_kwargs(model, "slow", i) for i in range(8)]
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda k: call(server, "evaluate", **k), kwargs))
        assert [r.status_code for r in replies] == [200] * 8
        assert model.stats.requests == 8 and model.stats.max_in_flight <= 2


def test_the_server_closes_its_inference_client_when_it_stops(miners: MinerServer) -> None:
    chat = client()
    with BackgroundServer(env_app(SAT, client=chat), lifespan=True) as server:
        assert call(server, "evaluate", **evaluate_kwargs(miners, "sage", 1)).status_code == 200
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(chat.complete(Endpoint(miners.base_url, "sage"), ChatRequest.single("s", "?")))


def test_a_chunked_body_is_read_no_further_than_the_cap(sat: BackgroundServer) -> None:
    chunk = b" " * 65536
    chunks = iter([chunk] * (MAX_BODY_BYTES // len(chunk) + 2))
    reply = httpx.post(f"{sat.url}/call", content=chunks)
    assert reply.status_code == 413
    assert "body_too_large" in reply.json()["error"]
