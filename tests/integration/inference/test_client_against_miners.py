"""The chat completions client against real local miner servers on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.support.arithmetic_env import ArithmeticEnvironment
from tests.support.clock import FakeClock
from tests.support.ports import refusing_port
from throne.adapters.inference import (
    AiohttpChatCompletions,
    BreakerPolicy,
    Deadlines,
    Limits,
    RetryPolicy,
)
from throne.miners import Faults, MinerProfile, MinerServer
from throne.ports.chat_completions import ChatRequest, Completion, Failure, Result
from throne.ports.model_endpoints import Endpoint

ENV = ArithmeticEnvironment()
FAST_RETRY = RetryPolicy(attempts=3, base=0.01, cap=0.05)


def serve(*miners: MinerProfile) -> MinerServer:
    return MinerServer(miners, [ENV]).start()


@pytest.fixture
def servers() -> Iterator[list[MinerServer]]:
    started: list[MinerServer] = []
    yield started
    for server in started:
        server.stop()


def ask(
    server: MinerServer,
    model: str,
    task_id: int = 1,
    client: AiohttpChatCompletions | None = None,
    **options: object,
) -> Result:
    async def go() -> Result:
        own = client or AiohttpChatCompletions(**options)  # type: ignore[arg-type]
        try:
            request = ChatRequest.single(model, ENV.task(task_id).prompt, temperature=0.0)
            return await own.complete(Endpoint(server.base_url, model), request)
        finally:
            if client is None:
                await own.aclose()

    return asyncio.run(go())


def test_a_skilled_miner_answers_with_the_reference_answer_and_usage(
    servers: list[MinerServer],
) -> None:
    servers.append(server := serve(MinerProfile("alice", skill=1.0)))
    result = ask(server, "alice", task_id=7)
    assert isinstance(result, Completion)
    assert ENV.evaluate(ENV.task(7), result.text).score == 1.0
    assert result.usage is not None and result.usage.completion_tokens == 1
    assert result.latency > 0 and result.attempts == 1


def test_a_miner_without_skill_answers_wrong(servers: list[MinerServer]) -> None:
    servers.append(server := serve(MinerProfile("bob", skill=0.0)))
    result = ask(server, "bob", task_id=7)
    assert isinstance(result, Completion)
    assert ENV.evaluate(ENV.task(7), result.text).score == 0.0


def test_server_errors_are_retried_until_the_endpoint_recovers(
    servers: list[MinerServer],
) -> None:
    servers.append(server := serve(MinerProfile("warm", faults=Faults(fail_first=2))))
    result = ask(server, "warm", retry=FAST_RETRY)
    assert isinstance(result, Completion)
    assert result.attempts == 3
    assert server.stats.requests == 3


def test_persistent_server_errors_become_an_infra_error_after_the_last_attempt(
    servers: list[MinerServer],
) -> None:
    servers.append(server := serve(MinerProfile("broken", faults=Faults(error_rate=1.0))))
    result = ask(server, "broken", retry=FAST_RETRY)
    assert isinstance(result, Failure)
    assert (result.kind, result.status, result.attempts) == ("infra_error", 500, 3)
    assert server.stats.requests == 3


def test_an_unknown_model_fails_fast_as_a_model_error(servers: list[MinerServer]) -> None:
    servers.append(server := serve(MinerProfile("alice")))
    result = ask(server, "nobody", retry=FAST_RETRY)
    assert isinstance(result, Failure)
    assert (result.kind, result.status, result.attempts) == ("model_error", 404, 1)
    assert server.stats.requests == 1


def test_retry_after_is_honoured_when_longer_than_the_backoff(
    servers: list[MinerServer],
) -> None:
    faults = Faults(rate_limit_rate=1.0, retry_after=0.3)
    servers.append(server := serve(MinerProfile("busy", faults=faults)))
    result = ask(server, "busy", retry=RetryPolicy(attempts=2, base=0.001))
    assert isinstance(result, Failure)
    assert (result.kind, result.status, result.attempts) == ("infra_error", 429, 2)
    assert result.latency >= 0.3


def test_a_retry_after_beyond_the_total_deadline_gives_up_at_once(
    servers: list[MinerServer],
) -> None:
    faults = Faults(rate_limit_rate=1.0, retry_after=60)
    servers.append(server := serve(MinerProfile("busy", faults=faults)))
    result = ask(server, "busy", retry=FAST_RETRY, deadlines=Deadlines(total=20))
    assert isinstance(result, Failure)
    assert result.attempts == 1 and result.latency < 20
    assert "total deadline" in result.reason


def test_a_hanging_endpoint_hits_the_read_deadline_on_every_attempt(
    servers: list[MinerServer],
) -> None:
    servers.append(server := serve(MinerProfile("stuck", faults=Faults(hang_rate=1.0))))
    result = ask(
        server,
        "stuck",
        retry=RetryPolicy(attempts=2, base=0.01),
        deadlines=Deadlines(connect=1, read=0.2, total=10),
    )
    assert isinstance(result, Failure)
    assert (result.kind, result.attempts) == ("infra_error", 2)
    assert "read timeout" in result.reason


def test_the_total_deadline_bounds_a_slow_answer(servers: list[MinerServer]) -> None:
    servers.append(server := serve(MinerProfile("slow", faults=Faults(latency_ms=5000))))
    result = ask(server, "slow", deadlines=Deadlines(connect=1, read=30, total=0.3))
    assert isinstance(result, Failure)
    assert result.kind == "infra_error"
    assert "total deadline" in result.reason


def test_a_refused_connection_is_retried_then_an_infra_error() -> None:
    async def go(port: int) -> Result:
        async with AiohttpChatCompletions(retry=FAST_RETRY) as client:
            endpoint = Endpoint(f"http://127.0.0.1:{port}/v1", "gone")
            return await client.complete(endpoint, ChatRequest.single("gone", "hi"))

    with refusing_port() as port:
        result = asyncio.run(go(port))
    assert isinstance(result, Failure)
    assert (result.kind, result.attempts) == ("infra_error", 3)
    assert "connect error" in result.reason


def test_a_malformed_json_body_is_a_model_error(servers: list[MinerServer]) -> None:
    servers.append(server := serve(MinerProfile("garbled", faults=Faults(malformed_rate=1.0))))
    result = ask(server, "garbled", retry=FAST_RETRY)
    assert isinstance(result, Failure)
    assert (result.kind, result.status, result.attempts) == ("model_error", 200, 1)
    assert "malformed JSON" in result.reason


def test_the_per_endpoint_bound_caps_requests_in_flight(servers: list[MinerServer]) -> None:
    servers.append(server := serve(MinerProfile("m", faults=Faults(latency_ms=60))))

    async def go() -> list[Result]:
        async with AiohttpChatCompletions(limits=Limits(per_endpoint=11, overall=50)) as client:
            endpoint = Endpoint(server.base_url, "m")
            calls = [
                client.complete(endpoint, ChatRequest.single("m", ENV.task(i).prompt))
                for i in range(40)
            ]
            return await asyncio.gather(*calls)

    results = asyncio.run(go())
    assert all(isinstance(r, Completion) for r in results)
    assert server.stats.max_in_flight == 11


def test_the_overall_bound_caps_requests_across_endpoints(servers: list[MinerServer]) -> None:
    faults = Faults(latency_ms=60)
    servers.append(
        server := serve(MinerProfile("a", faults=faults), MinerProfile("b", faults=faults))
    )

    async def go() -> list[Result]:
        async with AiohttpChatCompletions(limits=Limits(per_endpoint=4, overall=2)) as client:
            calls = [
                client.complete(Endpoint(server.base_url, m), ChatRequest.single(m, "hi"))
                for m in ("a", "b") * 5
            ]
            return await asyncio.gather(*calls)

    results = asyncio.run(go())
    assert all(isinstance(r, Completion) for r in results)
    assert server.stats.max_in_flight == 2
    assert server.stats.by_model == {"a": 5, "b": 5}


def test_the_circuit_opens_on_repeated_failures_and_a_probe_closes_it(
    servers: list[MinerServer],
) -> None:
    servers.append(server := serve(MinerProfile("flaky", faults=Faults(fail_first=2))))
    clock = FakeClock()
    endpoint = Endpoint(server.base_url, "flaky")
    request = ChatRequest.single("flaky", "hi")

    async def go() -> tuple[list[Result], list[bool]]:
        results: list[Result] = []
        health: list[bool] = []
        async with AiohttpChatCompletions(
            retry=RetryPolicy(attempts=1),
            breaker=BreakerPolicy(threshold=2, cooldown=30),
            clock=clock,
        ) as client:
            for _ in range(3):
                results.append(await client.complete(endpoint, request))
                health.append(client.healthy(endpoint))
            clock.now += 31
            results.append(await client.complete(endpoint, request))
            health.append(client.healthy(endpoint))
        return results, health

    results, health = asyncio.run(go())
    kinds = [r.kind for r in results]
    assert kinds == ["infra_error", "infra_error", "infra_error", "ok"]
    assert "circuit open" in results[2].reason  # type: ignore[union-attr]
    assert health == [True, False, False, True]
    assert server.stats.requests == 3  # the open circuit kept the third call off the wire


def test_cancelled_calls_leave_no_connection_open_after_close(
    servers: list[MinerServer],
) -> None:
    servers.append(server := serve(MinerProfile("stuck", faults=Faults(hang_rate=1.0))))

    async def go() -> int:
        client = AiohttpChatCompletions()
        endpoint = Endpoint(server.base_url, "stuck")
        tasks = [
            asyncio.create_task(client.complete(endpoint, ChatRequest.single("stuck", "hi")))
            for _ in range(8)
        ]
        deadline = time.monotonic() + 30
        while server.stats.in_flight < 8:
            assert time.monotonic() < deadline, server.stats
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
        in_flight = sum(h.in_flight for h in client.health().values())
        await client.aclose()
        return in_flight

    assert asyncio.run(go()) == 0
    deadline = time.monotonic() + 5
    while server.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.connections == 0


def test_a_closed_client_refuses_new_calls() -> None:
    async def go() -> None:
        client = AiohttpChatCompletions()
        await client.aclose()
        await client.complete(Endpoint("http://127.0.0.1:9/v1", "m"), ChatRequest.single("m", "x"))

    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(go())
