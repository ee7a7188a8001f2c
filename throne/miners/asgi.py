"""The local miners' ASGI application: ``POST /v1/chat/completions`` for several miners at once.

The request's ``model`` field picks the miner, the way a gateway routes. ``GET /health`` (and
``GET /``) answers as soon as the server is up; ``GET /v1/models`` lists the miners.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from throne.envs.base import Environment
from throne.envs.episodic import EpisodicEnv
from throne.miners.answer import UNRECOGNISED, answer_task, locate, locate_episode, next_move
from throne.miners.profile import NESTED_DEPTH, MinerProfile

HANG_SECONDS = 3600.0


@dataclass
class MinerStats:
    """What the server saw: requests received, in flight now, and the most in flight at once."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_model: dict[str, int] = field(default_factory=dict)


def miner_app(
    miners: Sequence[MinerProfile],
    environments: Sequence[Environment | EpisodicEnv],
    *,
    seed: int = 0,
    stats: MinerStats | None = None,
) -> Starlette:
    """An app serving ``miners`` (by name) over ``environments`` (single-turn and multi-turn);
    ``seed`` drives the faults."""
    by_name = {m.served_name: m for m in miners}
    if len(by_name) != len(miners):
        raise ValueError("two miners share a name")
    rng = random.Random(seed)
    counters = dict.fromkeys(by_name, 0)
    seen = stats if stats is not None else MinerStats()
    envs = tuple(e for e in environments if isinstance(e, Environment))
    episodic = tuple(e for e in environments if isinstance(e, EpisodicEnv))

    async def health(request: Request) -> Response:
        return _json({"status": "ok", "models": sorted(by_name)})

    async def models(request: Request) -> Response:
        data = [{"id": name, "object": "model", "owned_by": "throne"} for name in sorted(by_name)]
        return _json({"object": "list", "data": data})

    async def completions(request: Request) -> Response:
        seen.requests += 1
        seen.in_flight += 1
        seen.max_in_flight = max(seen.max_in_flight, seen.in_flight)
        try:
            return await _complete(request)
        finally:
            seen.in_flight -= 1

    async def _complete(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            model = body["model"]
            observations = _user_messages(body["messages"])
        except (ValueError, KeyError, TypeError):
            return _error(400, "invalid_request_error", "expected model and a user message")
        profile = by_name.get(model) if isinstance(model, str) else None
        if profile is None:
            return _error(404, "not_found_error", f"model {model!r} is not served here")
        seen.by_model[model] = seen.by_model.get(model, 0) + 1
        counters[model] += 1
        faults = profile.faults
        if counters[model] <= faults.fail_first:
            return _error(503, "server_error", "warming up")
        delay = faults.latency(rng)
        if delay and await _client_left_within(request, delay):
            return Response(status_code=499)
        draw = rng.random()
        for rate, fault in (
            (faults.hang_rate, "hang"),
            (faults.error_rate, "error"),
            (faults.rate_limit_rate, "rate_limit"),
            (faults.malformed_rate, "malformed"),
            (faults.nested_rate, "nested"),
        ):
            if draw < rate:
                return await _fault(fault, profile, request)
            draw -= rate
        prompt = observations[-1]
        episode = locate_episode(episodic, observations[0]) if episodic else None
        if episode is not None:
            # A move is computed from the game's few numbers: microseconds, no thread.
            text = next_move(profile, *episode, observations)
            return _json(_completion_body(model, prompt, text))
        # Recognising a prompt takes microseconds, building its task milliseconds: only the
        # latter goes to a thread, whose hand-off alone costs more than answering a stray prompt.
        located = locate(envs, prompt)
        text = (
            UNRECOGNISED
            if located is None
            else await run_in_threadpool(answer_task, profile, *located)
        )
        return _json(_completion_body(model, prompt, text))

    # Routes are tried in order: the one that takes the load goes first.
    routes = [
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/", health),
        Route("/health", health),
        Route("/v1/models", models),
    ]
    return Starlette(routes=routes)


async def _client_left_within(request: Request, seconds: float) -> bool:
    """Wait ``seconds``, or less if the client goes away (so a stop need not wait for it)."""
    try:
        async with asyncio.timeout(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


async def _fault(fault: str, profile: MinerProfile, request: Request) -> Response:
    if fault == "hang":
        await _client_left_within(request, HANG_SECONDS)
        return _error(504, "server_error", "hung")
    if fault == "error":
        return _error(500, "server_error", "injected failure")
    if fault == "rate_limit":
        retry_after = profile.faults.retry_after
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return _error(429, "rate_limit_error", "slow down", headers)
    if fault == "nested":
        nested = b"[" * NESTED_DEPTH + b"]" * NESTED_DEPTH
        return Response(nested, media_type="application/json")
    return Response('{"id": "chatcmpl-broken", "choices": [{"mess', media_type="application/json")


def _user_messages(messages: object) -> list[str]:
    """The text of every user message, in order; at least one."""
    if not isinstance(messages, list):
        raise TypeError("messages must be a list")
    texts = [
        message["content"]
        for message in messages
        if isinstance(message, dict)
        and message.get("role") == "user"
        and isinstance(message.get("content"), str)
    ]
    if not texts:
        raise KeyError("no user message")
    return texts


def _completion_body(model: str, prompt: str, text: str) -> dict[str, object]:
    digest = hashlib.sha256(f"{model}\x1f{prompt}".encode()).hexdigest()[:24]
    return {
        "id": f"chatcmpl-{digest}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            # Whitespace words stand in for tokens: these miners have no tokenizer.
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": len(text.split()),
            "total_tokens": len(prompt.split()) + len(text.split()),
        },
    }


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "code": status}}
    return _json(body, status, headers)


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # orjson rather than starlette's JSONResponse: a tenth of the encoding time.
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
