"""`RemoteEnv` against single-turn env services on loopback, good and hostile.

The service's behaviour is picked per call by the ``behaviour`` parameter the request passes
through; each hostile call is followed by a good one on the same adapter, which must still work.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.support.env_services import Hits, protocol_app, refusing_port
from throne.adapters.envs.remote import RemoteEnv
from throne.adapters.envs.transport import EnvProtocolClient
from throne.envs.protocol import Call, Evaluation, dump_answer, dump_failure, task_seed
from throne.miners import BackgroundServer
from throne.ports.env_service import EvalRequest, Outcome, Scored, Unscored
from throne.ports.model_endpoints import Endpoint

HITS = Hits()
CONVERSATION = (
    {"role": "user", "content": "Combien font 2 + 2 ? Réponds en un mot."},
    {"role": "assistant", "content": "quatre ✓"},
)
GOOD = Evaluation(0.75, conversation=CONVERSATION, prompt_tokens=11, completion_tokens=7)
MB = 1024 * 1024
HOLD_SECONDS = 0.5
HANG_SECONDS = 5.0  # how long a hanging env holds its answer: well past the tests' timeouts
_nonces = itertools.count()


class Gates:
    """Calls held on the server until ``gate`` of them are in flight on their replica, or all
    its ``calls`` have arrived, or `HOLD_SECONDS` have passed: how many ever were in flight
    together, per replica. A client that keeps within its bound is held the whole time (and
    passes); one that does not is caught as soon as the extra call arrives."""

    def __init__(self) -> None:
        self.now: dict[tuple[object, str], int] = {}
        self.arrived: dict[tuple[object, str], int] = {}
        self.peak: dict[tuple[object, str], int] = {}
        self._changed: dict[tuple[object, str], asyncio.Condition] = {}

    async def enter(self, replica: str, kwargs: dict[str, object]) -> None:
        key = (kwargs["nonce"], replica)
        changed = self._changed.setdefault(key, asyncio.Condition())
        gate, calls = int(str(kwargs["gate"])), int(str(kwargs["calls"]))
        async with changed:
            self.now[key] = self.now.get(key, 0) + 1
            self.arrived[key] = self.arrived.get(key, 0) + 1
            self.peak[key] = max(self.peak.get(key, 0), self.now[key])
            changed.notify_all()
            try:
                await asyncio.wait_for(
                    changed.wait_for(lambda: self.now[key] >= gate or self.arrived[key] == calls),
                    timeout=HOLD_SECONDS,
                )
            except TimeoutError:
                pass  # held long enough: nothing more came
            finally:
                self.now[key] -= 1


GATES = Gates()


async def flood(declared: bool) -> Response:
    """10 MB of answer. Streamed, it stops halfway for a while: a client that reads it all
    before judging it times out; one that stops at its cap does not."""
    if declared:
        return Response(b" " * (10 * MB), media_type="application/json")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"status": "success", "result": "'
        for sent in range(10 * 16):
            if sent == 5 * 16:
                await asyncio.sleep(HANG_SECONDS)
            yield b"x" * (MB // 16)
        yield b'"}'

    return StreamingResponse(chunks(), media_type="application/json")


async def hang() -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"status": "success", '
        await asyncio.sleep(HANG_SECONDS)
        yield b'"result": {"score": 1.0}}'

    return StreamingResponse(chunks(), media_type="application/json")


def result(value: object) -> Response:
    return Response(dump_answer(value), media_type="application/json")


async def on_call(replica: str, call: Call) -> Response:
    kwargs = dict(call.kwargs)
    behaviour = kwargs.get("behaviour", "good")
    if behaviour == "flaky":
        earlier = [c for _, c in HITS.of("nonce", kwargs["nonce"])]
        if len(earlier) == 1:
            return Response("overloaded", status_code=503)
    if behaviour == "gate":
        await GATES.enter(replica, kwargs)
    simple: dict[object, Response] = {
        "html": Response("<html><body>Bad gateway</body></html>", media_type="text/html"),
        "malformed": JSONResponse({"ok": True}),
        "no_score": result({"success": True, "extra": {"conversation": []}}),
        "nan": Response(b'{"status": "success", "result": {"score": NaN}}'),
        "two": result({"score": 2.0}),
        "string": result({"score": "1"}),
        "no_result": Response(b'{"status": "success", "result": null}'),
        "failed": Response(dump_failure("the sandbox crashed")),
        "surrogate": Response(
            b'{"status": "success", "result": {"score": 1, "extra": '
            b'{"conversation": ["\\ud800 lone"]}}}'
        ),
        "http404": Response("no such route", status_code=404),
        "http500": Response("internal error", status_code=500),
        "http429": Response("slow down", status_code=429),
    }
    if behaviour in simple:
        return simple[behaviour]
    if behaviour in ("flood", "flood_declared"):
        return await flood(declared=behaviour == "flood_declared")
    if behaviour == "hang":
        return await hang()
    return result(GOOD.dump())


def methods(replica: str) -> list[str] | None:
    return {"bare": ["reset", "step"], "junk": None}.get(replica, ["evaluate"])


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(protocol_app(HITS, on_call, methods)) as running:
        yield running


def request(task_id: int = 3, *, timeout: float = 30.0, **params: object) -> EvalRequest:
    endpoint = Endpoint("http://127.0.0.1:9/v1", "miner/model-7b", api_key="sekrit")
    return EvalRequest(
        task_id,
        task_seed("ENV", task_id),
        endpoint,
        temperature=0.0,
        max_tokens=256,
        timeout=timeout,
        params={"nonce": next(_nonces), **params},
    )


def evaluate(
    urls: Sequence[str],
    requests: Sequence[EvalRequest],
    *,
    together: bool = False,
    eval_params: dict[str, object] | None = None,
    **options: object,
) -> list[Outcome]:
    """The outcomes of ``requests`` on one `RemoteEnv`, one after the other or all at once."""

    async def go() -> list[Outcome]:
        client = EnvProtocolClient(urls, **options)  # type: ignore[arg-type]
        env = RemoteEnv("ENV", client, eval_params=eval_params or {})
        try:
            if together:
                return list(await asyncio.gather(*(env.evaluate(r) for r in requests)))
            return [await env.evaluate(r) for r in requests]
        finally:
            await env.aclose()

    return asyncio.run(go())


def test_a_good_env_is_scored_with_its_usage_and_conversation(server: BackgroundServer) -> None:
    good = request(task_id=3, max_iterations=7)
    params = {"task_type": "arith", "max_iterations": 5, "model": "not/the-miner"}
    [outcome] = evaluate([f"{server.url}/a"], [good], eval_params=params)

    assert isinstance(outcome, Scored)
    assert (outcome.score, outcome.usage.prompt_tokens, outcome.usage.completion_tokens) == (
        0.75,
        11,
        7,
    )
    assert outcome.latency > 0
    assert (
        outcome.transcript
        == (
            '[{"role":"user","content":"Combien font 2 + 2 ? Réponds en un mot."},'
            '{"role":"assistant","content":"quatre ✓"}]'
        ).encode()
    )
    [(replica, call)] = HITS.of("nonce", good.params["nonce"])
    assert (replica, call.method) == ("a", "evaluate")
    assert dict(call.kwargs) == {
        "task_id": 3,
        "seed": int(hashlib.sha256(b"ENV:3").hexdigest()[:8], 16),
        "model": "miner/model-7b",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": "sekrit",
        "temperature": 0.0,
        "timeout": 30.0,
        "max_tokens": 256,
        "task_type": "arith",
        "max_iterations": 7,
        "nonce": good.params["nonce"],
    }


@pytest.mark.parametrize(
    ("behaviour", "kind", "reason"),
    [
        ("html", "model_error", "not_json"),
        ("malformed", "model_error", "malformed_answer"),
        ("flood", "model_error", "body_too_large"),
        ("flood_declared", "model_error", "body_too_large"),
        ("hang", "infra_error", "env_timeout"),
        ("no_score", "model_error", "score_missing"),
        ("nan", "model_error", "score_not_finite"),
        ("two", "model_error", "score_out_of_range"),
        ("string", "model_error", "score_not_a_number"),
        ("no_result", "model_error", "no_result"),
        ("failed", "model_error", "env_failed"),
        ("http404", "infra_error", "env_refused_call"),
        ("http429", "infra_error", "env_http_429"),
        ("http500", "infra_error", "env_http_500"),
    ],
)
def test_a_hostile_answer_is_classified_and_the_next_call_still_works(
    server: BackgroundServer, behaviour: str, kind: str, reason: str
) -> None:
    # A short timeout and grace keep the hanging env's test short. The flood pauses longer
    # than its call may take: an adapter that waited for all of it would time out instead.
    hostile = request(behaviour=behaviour, timeout=2.5 if "flood" in behaviour else 0.5)
    bad, good = evaluate([f"{server.url}/a"], [hostile, request()], grace=0.5)

    assert isinstance(bad, Unscored)
    assert (bad.kind, bad.reason) == (kind, reason)
    assert bad.latency > 0
    assert isinstance(good, Scored) and good.score == 0.75


def test_the_envs_own_error_is_the_detail_of_a_failed_call(server: BackgroundServer) -> None:
    [outcome] = evaluate([f"{server.url}/a"], [request(behaviour="failed")])
    assert isinstance(outcome, Unscored)
    assert outcome.detail == "the sandbox crashed"


def test_a_conversation_with_a_lone_surrogate_is_stored_escaped(server: BackgroundServer) -> None:
    [outcome] = evaluate([f"{server.url}/a"], [request(behaviour="surrogate")])
    assert isinstance(outcome, Scored)
    assert outcome.transcript == b'["\\ud800 lone"]'


def test_a_failure_of_the_replica_is_tried_again(server: BackgroundServer) -> None:
    flaky = request(behaviour="flaky")
    [outcome] = evaluate([f"{server.url}/a"], [flaky])
    assert isinstance(outcome, Scored)
    assert len(HITS.of("nonce", flaky.params["nonce"])) == 2


def test_without_retries_a_503_is_the_outcome(server: BackgroundServer) -> None:
    flaky = request(behaviour="flaky")
    [outcome] = evaluate([f"{server.url}/a"], [flaky], retries=0)
    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("infra_error", "env_http_503")


def test_500_on_every_replica_is_an_infra_error_after_one_try_on_each(
    server: BackgroundServer,
) -> None:
    broken = request(behaviour="http500")
    [outcome] = evaluate([f"{server.url}/a", f"{server.url}/b"], [broken])
    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("infra_error", "env_http_500")
    assert sorted(r for r, _ in HITS.of("nonce", broken.params["nonce"])) == ["a", "b"]


def test_an_unreachable_env_is_an_infra_error() -> None:
    with refusing_port() as port:
        [outcome] = evaluate([f"http://127.0.0.1:{port}"], [request()])
    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("infra_error", "env_unreachable")


def test_a_dead_replica_is_passed_over_for_a_live_one(server: BackgroundServer) -> None:
    with refusing_port() as port:
        outcomes = evaluate([f"http://127.0.0.1:{port}", f"{server.url}/a"], [request()] * 4)
    assert all(isinstance(o, Scored) for o in outcomes)


def test_a_service_without_evaluate_fails_every_call_without_being_called(
    server: BackgroundServer,
) -> None:
    before = HITS.paths["bare", "call"], HITS.paths["bare", "methods"]
    outcomes = evaluate([f"{server.url}/bare"], [request(), request()])
    assert [(o.kind, getattr(o, "reason", "")) for o in outcomes] == [
        ("infra_error", "env_lacks_evaluate")
    ] * 2
    after = HITS.paths["bare", "call"], HITS.paths["bare", "methods"]
    assert (after[0] - before[0], after[1] - before[1]) == (0, 1)


def test_a_method_list_that_is_not_one_is_an_infra_error(server: BackgroundServer) -> None:
    [outcome] = evaluate([f"{server.url}/junk"], [request()])
    assert isinstance(outcome, Unscored)
    assert (outcome.kind, outcome.reason) == ("infra_error", "not_json")
    assert HITS.paths["junk", "call"] == 0


def test_round_robin_spreads_calls_over_the_replicas(server: BackgroundServer) -> None:
    requests = [request() for _ in range(4)]
    evaluate([f"{server.url}/a", f"{server.url}/b"], requests)
    served = [HITS.of("nonce", r.params["nonce"])[0][0] for r in requests]
    assert served == ["a", "b", "a", "b"]


def test_random_balancing_follows_its_random_source(server: BackgroundServer) -> None:
    urls = [f"{server.url}/{r}" for r in "abc"]

    def served(seed: int) -> list[str]:
        requests = [request() for _ in range(12)]
        evaluate(urls, requests, load_balance="random", rng=random.Random(seed))
        return [HITS.of("nonce", r.params["nonce"])[0][0] for r in requests]

    first = served(7)
    assert served(7) == first
    assert set(first) == {"a", "b", "c"}
    assert first != ["a", "b", "c"] * 4


def test_calls_in_flight_on_a_replica_never_pass_its_concurrency(server: BackgroundServer) -> None:
    # The server holds each call until a third is in flight on its replica: the peak is 2
    # only if both slots were used, and no call ever came beyond them.
    nonce = f"gate-{next(_nonces)}"
    requests = [request(behaviour="gate", gate=3, calls=4, nonce=nonce) for _ in range(8)]
    outcomes = evaluate(
        [f"{server.url}/a", f"{server.url}/b"], requests, together=True, concurrency=2
    )
    assert all(isinstance(o, Scored) for o in outcomes)
    assert {r: GATES.peak[nonce, r] for r in "ab"} == {"a": 2, "b": 2}


def test_health_says_whether_every_replica_answers(server: BackgroundServer) -> None:
    async def health(urls: list[str]) -> bool:
        client = EnvProtocolClient(urls)
        try:
            return await client.health()
        finally:
            await client.aclose()

    assert asyncio.run(health([f"{server.url}/a", f"{server.url}/b"]))
    with refusing_port() as port:
        assert not asyncio.run(health([f"{server.url}/a", f"http://127.0.0.1:{port}"]))
