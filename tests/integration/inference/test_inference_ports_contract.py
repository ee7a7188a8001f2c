"""The inference ports' contracts, against a real miner server on loopback.

`ModelEndpoints`: every adapter (and every way of configuring it) resolves a served model to an
endpoint that answers for it, the same one each time, and says which models no one serves.
`ChatCompletions`: every adapter turns what an endpoint does into a `Completion` or a
classified `Failure`, and raises for none of it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from tests.support.arithmetic_env import ArithmeticEnvironment
from throne.adapters.inference import AiohttpChatCompletions, RetryPolicy, StaticModelEndpoints
from throne.miners import MinerProfile, MinerServer
from throne.ports.chat_completions import ChatCompletions, ChatRequest, Completion, Failure, Result
from throne.ports.model_endpoints import Endpoint, ModelEndpoints, UnknownModel

ENV = ArithmeticEnvironment()
SERVED = ("org/alice", "r1")
UNSERVED = ("org/nobody", "r1")


@pytest.fixture(scope="module")
def miners() -> Iterator[MinerServer]:
    with MinerServer([MinerProfile("alice", skill=1.0)], [ENV]) as server:
        yield server


@pytest.fixture(params=["model route", "revision route", "config table", "gateway"])
def endpoints(request: pytest.FixtureRequest, miners: MinerServer) -> ModelEndpoints:
    url = miners.base_url
    if request.param == "model route":
        return StaticModelEndpoints({"org/alice": Endpoint(url + "/", "alice")})
    if request.param == "revision route":
        return StaticModelEndpoints({"org/alice@r1": Endpoint(url, "alice")})
    if request.param == "config table":
        return StaticModelEndpoints.from_config(
            {"routes": {"org/alice": {"base_url": url, "model": "alice"}}}
        )
    # A gateway serves every model under its own name; this one routes org/alice to alice.
    return StaticModelEndpoints({"org/alice": Endpoint(url, "alice")}, gateway=url)


class Asking:
    """A `ChatCompletions` adapter and the one event loop its calls run on."""

    def __init__(self, client: ChatCompletions, loop: asyncio.Runner) -> None:
        self.client = client
        self._loop = loop

    def complete(self, endpoint: Endpoint, task_id: int = 3) -> Result:
        request = ChatRequest.single(endpoint.model, ENV.task(task_id).prompt, temperature=0.0)
        return self._loop.run(self.client.complete(endpoint, request))


@pytest.fixture(params=["aiohttp"])
def asking(request: pytest.FixtureRequest) -> Iterator[Asking]:
    with asyncio.Runner() as loop:
        client = AiohttpChatCompletions(retry=RetryPolicy(attempts=2, base=0.01, cap=0.02))
        try:
            yield Asking(client, loop)
        finally:
            loop.run(client.aclose())


def test_a_served_model_resolves_to_an_endpoint_that_answers_for_it(
    endpoints: ModelEndpoints, asking: Asking
) -> None:
    endpoint = endpoints.resolve(*SERVED)
    assert not endpoint.base_url.endswith("/")
    result = asking.complete(endpoint)
    assert isinstance(result, Completion)
    assert ENV.evaluate(ENV.task(3), result.text).score == 1.0


def test_a_model_resolves_to_the_same_endpoint_each_time(endpoints: ModelEndpoints) -> None:
    first, second = endpoints.resolve(*SERVED), endpoints.resolve(*SERVED)
    assert first == second and first.key == second.key


def test_a_model_no_one_serves_is_unknown_unless_a_gateway_takes_every_model(
    endpoints: ModelEndpoints, miners: MinerServer
) -> None:
    try:
        endpoint = endpoints.resolve(*UNSERVED)
    except UnknownModel as exc:
        assert "org/nobody@r1" in str(exc)
    else:
        assert endpoint == Endpoint(miners.base_url, "org/nobody")


def test_an_answer_comes_back_as_a_completion_with_its_cost(
    asking: Asking, miners: MinerServer
) -> None:
    endpoint = Endpoint(miners.base_url, "alice")
    result = asking.complete(endpoint, task_id=5)
    assert isinstance(result, Completion)
    assert ENV.evaluate(ENV.task(5), result.text).score == 1.0
    assert result.latency > 0 and result.attempts == 1 and result.usage is not None
    assert asking.client.healthy(endpoint)


def test_a_model_the_endpoint_does_not_serve_is_the_models_error(
    asking: Asking, miners: MinerServer
) -> None:
    result = asking.complete(Endpoint(miners.base_url, "mallory"))
    assert isinstance(result, Failure) and result.kind == "model_error"
    assert result.status == 404


def test_an_endpoint_that_cannot_be_reached_is_an_infrastructure_error(asking: Asking) -> None:
    with socket.socket() as bound:  # bound, never listening: every connection is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        result = asking.complete(Endpoint(f"http://127.0.0.1:{port}/v1", "alice"))
    assert isinstance(result, Failure) and result.kind == "infra_error"
