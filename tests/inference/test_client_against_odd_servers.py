"""The client against small real servers that misbehave in ways local miners do not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from throne.adapters.inference import (
    AiohttpChatCompletions,
    ChatRequest,
    Completion,
    Endpoint,
    Failure,
    Limits,
    Result,
    RetryPolicy,
)
from throne.miners import BackgroundServer

SEEN: list[dict[str, object]] = []


def _ok(content: object) -> dict[str, object]:
    return {"choices": [{"message": {"role": "assistant", "content": content}}]}


async def echo(request: Request) -> Response:
    body = json.loads(await request.body())
    SEEN.append({"auth": request.headers.get("authorization"), **body})
    return JSONResponse(_ok("echo"))


async def huge(request: Request) -> Response:
    return JSONResponse(_ok("x" * 5000))


async def huge_streamed(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"choices": [{"message": {"content": "'
        for _ in range(100):
            yield b"y" * 100
        yield b'"}}]}'

    return StreamingResponse(chunks(), media_type="application/json")


async def latin1(request: Request) -> Response:
    return Response(
        b'{"choices": [{"message": {"content": "caf\xe9"}}]}', media_type="application/json"
    )


async def no_content(request: Request) -> Response:
    return JSONResponse(_ok(None))


async def no_choices(request: Request) -> Response:
    return JSONResponse({"error": {"message": "overloaded"}})


async def unauthorised(request: Request) -> Response:
    return JSONResponse({"error": "bad key"}, status_code=401)


async def too_long(request: Request) -> Response:
    return JSONResponse({"error": "context length exceeded"}, status_code=400)


async def redirect(request: Request) -> Response:
    return Response(status_code=307, headers={"location": "http://example.invalid/"})


ROUTES = {
    "echo": echo,
    "huge": huge,
    "huge_streamed": huge_streamed,
    "latin1": latin1,
    "no_content": no_content,
    "no_choices": no_choices,
    "unauthorised": unauthorised,
    "too_long": too_long,
    "redirect": redirect,
}


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    routes = [Route(f"/{name}/chat/completions", h, methods=["POST"]) for name, h in ROUTES.items()]
    with BackgroundServer(Starlette(routes=routes)) as running:
        yield running


def call(server: BackgroundServer, route: str, request: ChatRequest | None = None) -> Result:
    async def go() -> Result:
        limits = Limits(max_body_bytes=4096)
        async with AiohttpChatCompletions(limits=limits, retry=RetryPolicy(base=0.01)) as client:
            endpoint = Endpoint(f"{server.url}/{route}", "m", api_key="sekrit")
            return await client.complete(endpoint, request or ChatRequest.single("m", "hi"))

    return asyncio.run(go())


def test_the_request_carries_options_and_the_bearer_token(server: BackgroundServer) -> None:
    SEEN.clear()
    request = ChatRequest.single("m", "hello", temperature=0.0, max_tokens=64, seed=42)
    result = call(server, "echo", request)
    assert isinstance(result, Completion) and result.text == "echo"
    assert result.usage is None
    assert SEEN == [
        {
            "auth": "Bearer sekrit",
            "model": "m",
            "messages": [{"role": "user", "content": "hello"}],
            "temperature": 0.0,
            "max_tokens": 64,
            "seed": 42,
        }
    ]


def test_the_api_key_stays_out_of_the_endpoint_repr() -> None:
    assert "sekrit" not in repr(Endpoint("http://x/v1", "m", api_key="sekrit"))


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ("huge", "body over 4096 bytes"),
        ("huge_streamed", "body over 4096 bytes"),
        ("latin1", "not UTF-8"),
        ("no_content", "no choices[0].message.content"),
        ("no_choices", "no choices[0].message.content"),
        ("too_long", "HTTP 400"),
    ],
)
def test_unusable_answers_are_model_errors_without_retry(
    server: BackgroundServer, route: str, reason: str
) -> None:
    result = call(server, route)
    assert isinstance(result, Failure)
    assert result.kind == "model_error" and result.attempts == 1
    assert reason in result.reason


@pytest.mark.parametrize(("route", "status"), [("unauthorised", 401), ("redirect", 307)])
def test_refusals_of_our_own_request_are_infra_errors_without_retry(
    server: BackgroundServer, route: str, status: int
) -> None:
    result = call(server, route)
    assert isinstance(result, Failure)
    assert (result.kind, result.status, result.attempts) == ("infra_error", status, 1)


def test_an_unsupported_url_scheme_is_an_infra_error_not_an_exception() -> None:
    async def go() -> Result:
        async with AiohttpChatCompletions(retry=RetryPolicy(base=0.01)) as client:
            return await client.complete(Endpoint("ftp://x/v1", "m"), ChatRequest.single("m", "hi"))

    result = asyncio.run(go())
    assert isinstance(result, Failure)
    assert (result.kind, result.attempts) == ("infra_error", 1)
