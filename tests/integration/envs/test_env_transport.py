"""`EnvProtocolClient` on its own: its configuration, and exchanges broken below HTTP."""

from __future__ import annotations

import asyncio
import re

import pytest

from throne.adapters.envs.transport import EnvProtocolClient
from throne.envs.episode import TurnFailed


@pytest.mark.parametrize(
    ("urls", "options", "message"),
    [
        ([], {}, "at least one replica"),
        (["ftp://host"], {}, "expected http(s)://"),
        (["http://"], {}, "expected http(s)://"),
        (["http://h"], {"load_balance": "fastest"}, "load_balance"),
        (["http://h"], {"concurrency": 0}, "concurrency"),
    ],
)
def test_a_bad_configuration_is_refused_clearly(
    urls: list[str], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        EnvProtocolClient(urls, **options)  # type: ignore[arg-type]


# Replies below HTTP, from a raw TCP server, that no ASGI app can send.
RAW_REPLIES = {
    "cut_short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",
    "not_http": b"this is not HTTP\r\n\r\n",
    "closes": b"",
}


@pytest.mark.parametrize("reply", RAW_REPLIES.values(), ids=RAW_REPLIES.keys())
def test_a_call_broken_below_http_is_an_infra_error_tried_again(reply: bytes) -> None:
    listing = b'{"methods": ["evaluate"]}'
    calls = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        await reader.readexactly(int(length[1]) if length else 0)
        if head.startswith(b"GET /methods"):
            writer.write(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(listing), listing)
            )
        else:
            calls += 1
            writer.write(reply)
        await writer.drain()
        writer.close()

    async def go() -> TurnFailed:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            client = EnvProtocolClient([f"http://127.0.0.1:{port}"])
            try:
                assert await client.methods() == {"evaluate"}
                await client.call("evaluate", {"task_id": 1}, timeout=5.0)
            except TurnFailed as exc:
                return exc
            finally:
                await client.aclose()
        raise AssertionError("the call succeeded")

    failure = asyncio.run(go())
    assert (failure.kind, failure.reason) == ("infra_error", "env_unreachable")
    assert calls == 2  # tried once more
