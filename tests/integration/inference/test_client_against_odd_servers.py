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

from throne.adapters.inference import AiohttpChatCompletions, Deadlines, Limits, RetryPolicy
from throne.miners import BackgroundServer
from throne.ports.chat_completions import ChatRequest, Completion, Failure, Result
from throne.ports.model_endpoints import Endpoint

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
        # Few, large chunks: the client hangs up after the cap, and every chunk written after
        # that makes the server's event loop complain.
        for _ in range(5):
            yield b"y" * 2000
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


# Raw TCP servers on loopback, for failures below HTTP that no ASGI app can produce.
RAW_REPLIES = {
    "cut": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    "not_http": b"this is not HTTP\r\n\r\n",
    "closes": b"",
}


def call_raw(reply: bytes, hold_open: bool = False, **options: object) -> tuple[Result, int]:
    """One call against a server that sends ``reply`` to every connection (then closes it,
    unless ``hold_open``); the result and how many connections the server saw."""

    async def go() -> tuple[Result, int]:
        seen = 0
        handlers: list[asyncio.Task[None]] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal seen
            seen += 1
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
            if hold_open:
                await reader.read()  # until the client hangs up
            writer.close()

        def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            handlers.append(asyncio.create_task(handle(reader, writer)))

        server = await asyncio.start_server(track, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            client = AiohttpChatCompletions(retry=RetryPolicy(base=0.01), **options)  # type: ignore[arg-type]
            async with client:
                endpoint = Endpoint(f"http://127.0.0.1:{port}/v1", "m")
                result = await client.complete(endpoint, ChatRequest.single("m", "hi"))
            # Every connection ends once the client is closed: a handler left waiting would
            # mean a connection the client leaked.
            async with asyncio.timeout(5):
                await asyncio.gather(*handlers)
        return result, seen

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("route", "reason"),
    [("cut", "body cut short"), ("not_http", "bad response"), ("closes", "connection lost")],
)
def test_broken_exchanges_are_retried_infra_errors(route: str, reason: str) -> None:
    result, connections = call_raw(RAW_REPLIES[route])
    assert isinstance(result, Failure)
    assert (result.kind, result.attempts, connections) == ("infra_error", 3, 3)
    assert reason in result.reason


def test_a_declared_length_over_the_cap_is_refused_without_reading_the_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n"
    # The body never comes: only refusing on the declared length can end the call early.
    result, _ = call_raw(head + b"{", hold_open=True, deadlines=Deadlines(read=20, total=30))
    assert isinstance(result, Failure)
    assert (result.kind, result.attempts) == ("model_error", 1)
    assert "body over" in result.reason and result.latency < 10


def test_an_unparseable_url_is_an_infra_error_not_an_exception() -> None:
    async def go() -> Result:
        async with AiohttpChatCompletions(retry=RetryPolicy(base=0.01)) as client:
            endpoint = Endpoint("http://[::1/v1", "m")
            return await client.complete(endpoint, ChatRequest.single("m", "hi"))

    result = asyncio.run(go())
    assert isinstance(result, Failure)
    assert (result.kind, result.attempts) == ("infra_error", 1)
    assert "invalid URL" in result.reason


async def proxied(request: Request) -> Response:
    # An HTTP proxy receives the target's absolute URL; uvicorn hands on its path and Host.
    return JSONResponse(_ok(f"via proxy for {request.headers.get('host')}"))


@pytest.mark.parametrize("trust_env", [True, False], ids=["follows-proxy", "ignores-proxy"])
def test_the_environments_proxy_is_followed_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, trust_env: bool
) -> None:
    app = Starlette(routes=[Route("/v1/chat/completions", proxied, methods=["POST"])])
    with BackgroundServer(app) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        # Nothing listens on the target: only the proxy can answer.
        target = Endpoint("http://127.0.0.1:9/v1", "m")

        async def go() -> Result:
            async with AiohttpChatCompletions(
                retry=RetryPolicy(attempts=1), deadlines=Deadlines(connect=2), trust_env=trust_env
            ) as client:
                return await client.complete(target, ChatRequest.single("m", "hi"))

        result = asyncio.run(go())
    if trust_env:
        assert isinstance(result, Completion) and result.text == "via proxy for 127.0.0.1:9"
    else:
        assert isinstance(result, Failure) and result.kind == "infra_error"
