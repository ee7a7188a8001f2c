"""The `EnvService` contract, passed by every adapter: throne's envs in-process, and the same
envs behind `throne env serve`'s app reached over loopback by the remote adapters.

Whatever runs the env, a model that solves the task scores 1, one that does not scores 0, a
model nobody serves is the infrastructure's failure, and the transcript of a score is kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from tests.support.ports import refusing_port
from throne.adapters.envs.in_process import InProcessEnv, InProcessEpisodes
from throne.adapters.envs.remote import RemoteEnv, RemoteEpisodes
from throne.adapters.envs.server import env_app
from throne.adapters.envs.transport import EnvProtocolClient
from throne.adapters.inference.client import AiohttpChatCompletions
from throne.adapters.inference.policy import RetryPolicy
from throne.envs.guess import GuessEnvironment
from throne.envs.protocol import task_seed
from throne.envs.sat import SatEnvironment
from throne.miners import BackgroundServer, MinerProfile, MinerServer
from throne.ports.env_service import EnvService, EvalRequest, Scored, Unscored
from throne.ports.model_endpoints import Endpoint

SAT = SatEnvironment()
GUESS = GuessEnvironment()
SAGE, FOOL = MinerProfile("sage", skill=1.0), MinerProfile("fool", skill=0.0)

Opened = Callable[[], AbstractAsyncContextManager[EnvService]]


def chat() -> AiohttpChatCompletions:
    return AiohttpChatCompletions(retry=RetryPolicy(attempts=1))


@pytest.fixture(scope="module")
def miners() -> Iterator[MinerServer]:
    with MinerServer([SAGE, FOOL], [SAT, GUESS]) as server:
        yield server


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    """SAT and GUESS behind the protocol, as `throne env serve` serves them."""
    with (
        BackgroundServer(env_app(SAT, client=chat()), lifespan=True) as sat,
        BackgroundServer(env_app(GUESS), lifespan=True) as guess,
    ):
        yield {"SAT": sat.url, "GUESS": guess.url}


def adapters(served: dict[str, str]) -> dict[str, Opened]:
    @asynccontextmanager
    async def in_process_env() -> AsyncIterator[EnvService]:
        async with chat() as c:
            yield InProcessEnv(SAT, c)

    @asynccontextmanager
    async def in_process_episodes() -> AsyncIterator[EnvService]:
        async with chat() as c:
            yield InProcessEpisodes(GUESS, c)

    @asynccontextmanager
    async def remote_env() -> AsyncIterator[EnvService]:
        service = RemoteEnv("SAT", EnvProtocolClient([served["SAT"]]))
        try:
            yield service
        finally:
            await service.aclose()

    @asynccontextmanager
    async def remote_episodes() -> AsyncIterator[EnvService]:
        async with chat() as c:
            service = RemoteEpisodes(
                "GUESS", EnvProtocolClient([served["GUESS"]]), c, max_turns=GUESS.max_turns
            )
            try:
                yield service
            finally:
                await service.aclose()

    return {
        "InProcessEnv": in_process_env,
        "InProcessEpisodes": in_process_episodes,
        "RemoteEnv": remote_env,
        "RemoteEpisodes": remote_episodes,
    }


ADAPTERS = ["InProcessEnv", "InProcessEpisodes", "RemoteEnv", "RemoteEpisodes"]


def request(name: str, task_id: int, base_url: str, model: str) -> EvalRequest:
    return EvalRequest(
        task_id=task_id,
        seed=task_seed(name, task_id),
        endpoint=Endpoint(base_url, model),
        timeout=30.0,
    )


def outcomes(opened: Opened, requests: list[EvalRequest]) -> tuple[str, list[Scored | Unscored]]:
    async def go() -> tuple[str, list[Scored | Unscored]]:
        async with opened() as service:
            return service.name, [await service.evaluate(r) for r in requests]

    return asyncio.run(go())


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_solver_scores_one_a_fool_zero_and_the_transcript_is_kept(
    adapter: str, miners: MinerServer, served: dict[str, str]
) -> None:
    env = "GUESS" if "Episodes" in adapter else "SAT"
    ids = [i for i in range(40) if SAGE.solves(env, i) and not FOOL.solves(env, i)][:3]
    asked = [request(env, i, miners.base_url, m) for i in ids for m in ("sage", "fool")]
    name, got = outcomes(adapters(served)[adapter], asked)
    assert name == env
    assert all(isinstance(o, Scored) for o in got), got
    assert [o.score for o in got if isinstance(o, Scored)] == [1.0, 0.0] * len(ids)
    assert all(o.transcript and o.latency >= 0 for o in got if isinstance(o, Scored))


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_model_nobody_serves_is_an_infra_error(
    adapter: str, miners: MinerServer, served: dict[str, str]
) -> None:
    env = "GUESS" if "Episodes" in adapter else "SAT"
    with refusing_port() as port:
        _, got = outcomes(
            adapters(served)[adapter], [request(env, 3, f"http://127.0.0.1:{port}/v1", "sage")]
        )
    assert isinstance(got[0], Unscored) and got[0].kind == "infra_error", got
