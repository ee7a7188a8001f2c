"""Fuzzing the completion parser and the client with hostile 2xx bodies.

Whatever a miner answers, what comes out is a classified result: a `ParsedBody` or an
`UnusableBody` from the parser; a `Completion` or a `Failure` from the client, which sees the
bytes through a real loopback HTTP server. Never any other exception.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from throne.adapters.inference import AiohttpChatCompletions, BreakerPolicy, Limits, RetryPolicy
from throne.adapters.inference.completion_body import (
    MAX_TOKEN_COUNT,
    ParsedBody,
    UnusableBody,
    parse_completion_body,
)
from throne.miners import BackgroundServer
from throne.ports.chat_completions import ChatRequest, Completion, Failure
from throne.ports.model_endpoints import Endpoint

CAP = 64 * 1024  # the client's body cap here: giant strings near it stay cheap to generate


def envelope(content: str = '"ok"', *, before: str = "", after: str = "") -> str:
    """A completion body with ``content`` (JSON text) as the answer and extra members."""
    return (
        "{" + before + '"choices":[{"index":0,"message":{"role":"assistant","content":'
        f"{content}}}}}]" + after + "}"
    )


@st.composite
def nested(draw: st.DrawFn) -> str:
    """Arrays and objects nested up to several thousand levels, alone or inside a body."""
    depth = draw(st.integers(1, 5000))
    opener, closer = draw(
        st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"[":', "}"), ('["{",', "]"), ("[1,", "]")])
    )
    leaf = draw(st.sampled_from(["0", '"x"', "null", "[]", "{}", "NaN"]))
    value = opener * depth + leaf + closer * depth
    where = draw(st.sampled_from(["alone", "before", "after", "content", "usage"]))
    if where == "alone":
        return value
    if where == "content":
        return envelope(value)
    if where == "usage":
        return envelope(after=f',"usage":{value}')
    return envelope(**{where: f'"x":{value},' if where == "before" else f',"x":{value}'})


numbers = st.one_of(
    st.integers(1, 30_000).map(lambda n: "1" * n),
    st.integers(1, 30_000).map(lambda n: "-" + "9" * n),
    st.sampled_from(
        ["1e400", "-1e400", "1e-400", "1E99999999999", "0.0000", "-0", "2e308", "1.5e+999"]
    ),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "0x10", "01", "1.", ".5"]),
    st.integers().map(str),
    st.just(str(2**64)),
    st.just("true"),
)


@st.composite
def with_numbers(draw: st.DrawFn) -> str:
    a, b = draw(numbers), draw(numbers)
    where = draw(st.sampled_from(["usage", "content", "extra"]))
    if where == "usage":
        return envelope(after=f',"usage":{{"prompt_tokens":{a},"completion_tokens":{b}}}')
    if where == "content":
        return envelope(a)
    return envelope(before=f'"logprob":{a},', after=f',"n":{b}')


string_pieces = st.sampled_from(
    [
        "plain",
        "caf\u00e9",
        "\\n",
        "\\u00e9",
        "\\ud83d\\ude00",  # a proper pair
        "\\ud800",  # lone high surrogate
        "\\udfff",  # lone low surrogate
        "\\udc00\\ud800",  # a pair the wrong way round
        "\\x41",  # invalid escapes
        "\\u12",
        "\\u12g4",
        "\\",
        "\\'",
        '\\"',
        "\t",  # raw control characters
        "\x00",
        "[{",
        '"',
    ]
)


@st.composite
def with_strings(draw: st.DrawFn) -> bytes:
    pieces = draw(st.lists(string_pieces, max_size=8))
    body = envelope('"' + "".join(pieces) + '"').encode("utf-8")
    # Bytes no UTF-8 encoder writes: a lone surrogate, an overlong NUL, a stray continuation.
    raw = draw(st.sampled_from([b"", b"\xed\xa0\x80", b"\xc0\x80", b"\x80", b"\xff\xfe"]))
    at = body.index(b'"content":"') + len(b'"content":"')
    return body[:at] + raw + body[at:]


boms = st.sampled_from(
    [
        b"\xef\xbb\xbf" + envelope().encode(),
        b"\xff\xfe" + envelope().encode("utf-16-le"),
        b"\xfe\xff" + envelope().encode("utf-16-be"),
        envelope().encode("utf-32"),
        "\ufeff".encode() * 2 + envelope().encode(),
    ]
)


@st.composite
def giant_strings(draw: st.DrawFn) -> str:
    """An answer whose body is within a few bytes of the cap, either side."""
    overhead = len(envelope('""'))
    size = CAP - overhead + draw(st.integers(-64, 64))
    fill = draw(st.sampled_from(["x", "[", "\\\\", "\u00e9"]))
    return envelope('"' + fill * max(0, size // len(fill.encode())) + '"')


honest = st.builds(
    lambda text, prompt, completion: orjson.dumps(
        {
            "choices": [{"message": {"content": text}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion},
        }
    ),
    st.text(max_size=200),
    st.integers(-5, 10**6),
    st.integers(0, 10**6),
)


def as_bytes(body: str | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    body = as_bytes(
        draw(
            st.one_of(
                nested(),
                with_numbers(),
                with_strings(),
                boms,
                giant_strings(),
                honest,
                st.binary(max_size=2048),
            )
        )
    )
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, len(body)))]  # a body cut short anywhere
    return body


def classified(raw: bytes) -> ParsedBody | UnusableBody:
    """The parser's result for ``raw``; any exception but `UnusableBody` fails the test."""
    try:
        parsed = parse_completion_body(raw, max_bytes=CAP)
    except UnusableBody as exc:
        # What kinds of trouble the examples reach: --hypothesis-show-statistics lists them.
        event(re.sub(r"[0-9]+", "N", str(exc)).split(" (")[0][:60])
        return exc
    event("parsed")
    assert isinstance(parsed, ParsedBody)
    parsed.text.encode("utf-8")  # what the sampler stores
    if parsed.usage is not None:
        assert 0 <= parsed.usage.prompt_tokens <= MAX_TOKEN_COUNT
        assert 0 <= parsed.usage.completion_tokens <= MAX_TOKEN_COUNT
    return parsed


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bodies())
def test_the_parser_gives_an_answer_or_the_reason_it_is_unusable_never_an_error(
    raw: bytes,
) -> None:
    classified(raw)


@pytest.mark.parametrize("depth", [65, 1100, 5000, 100_000])
@pytest.mark.parametrize(("opener", "closer"), [("[", "]"), ('{"a":', "}")])
def test_deep_nesting_is_an_unusable_body_whichever_parser_meets_it(
    depth: int, opener: str, closer: str
) -> None:
    value = opener * depth + "0" + closer * depth
    # NaN first: orjson refuses the body there, and the lenient reading meets the depth.
    lenient = envelope(before='"p":NaN,', after=f',"x":{value}').encode()
    with pytest.raises(UnusableBody, match="nested deeper than 64 levels"):
        parse_completion_body(lenient)
    strict = envelope(after=f',"x":{value}').encode()
    if depth <= 1024:
        # orjson reads this deep itself, without recursing in Python: the answer stands.
        assert parse_completion_body(strict).text == "ok"
    else:
        with pytest.raises(UnusableBody, match="nested deeper than 64 levels"):
            parse_completion_body(strict)
    with pytest.raises(UnusableBody):
        parse_completion_body((opener * depth).encode())


@dataclass
class Served:
    """One loopback server and one client for every example: the body to answer travels in
    the request's model name, a key into ``bodies``."""

    server: BackgroundServer
    client: AiohttpChatCompletions
    loop: asyncio.AbstractEventLoop
    bodies: dict[str, tuple[bytes, bool]]
    keys: Iterator[int]

    def ask(self, body: bytes, chunked: bool) -> Completion | Failure:
        key = f"b{next(self.keys)}"
        self.bodies[key] = (body, chunked)
        try:
            endpoint = Endpoint(f"{self.server.url}/v1", key)
            return self.loop.run_until_complete(
                self.client.complete(endpoint, ChatRequest.single(key, "hi"))
            )
        finally:
            del self.bodies[key]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    bodies: dict[str, tuple[bytes, bool]] = {}

    async def answer(request: Request) -> Response:
        body, chunked = bodies[orjson.loads(await request.body())["model"]]
        if not chunked:
            return Response(body, media_type="application/json")

        async def pieces() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 4096):
                yield body[i : i + 4096]

        # No Content-Length: the client finds the cap while reading.
        return StreamingResponse(pieces(), media_type="application/json")

    app = Starlette(routes=[Route("/v1/chat/completions", answer, methods=["POST"])])
    loop = asyncio.new_event_loop()
    client = AiohttpChatCompletions(
        limits=Limits(max_body_bytes=CAP),
        retry=RetryPolicy(attempts=1),
        # Failures must not open the circuit: every example should reach the parser.
        breaker=BreakerPolicy(threshold=10**9),
    )
    with BackgroundServer(app) as server:
        yield Served(server, client, loop, bodies, itertools.count())
        loop.run_until_complete(client.aclose())
    loop.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bodies(), st.booleans())
def test_the_client_returns_a_completion_or_a_classified_failure_for_any_body(
    served: Served, raw: bytes, chunked: bool
) -> None:
    result = served.ask(raw, chunked)
    assert isinstance(result, Completion | Failure)
    expected = classified(raw) if len(raw) <= CAP else UnusableBody("over the cap")
    if isinstance(expected, ParsedBody):
        assert isinstance(result, Completion) and result.text == expected.text
        assert result.usage == expected.usage
    else:
        # The far side's bytes are the model's doing; nothing was left to a catch-all.
        assert isinstance(result, Failure) and result.kind == "model_error", result
        assert result.status == 200


def test_the_body_that_stalled_the_contest_is_a_model_error(served: Served) -> None:
    result = served.ask(b"[" * 1100 + b"]" * 1100, chunked=False)
    assert isinstance(result, Failure) and result.kind == "model_error"
    assert "nested deeper than 64 levels" in result.reason
