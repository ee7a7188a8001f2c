"""Reading a 2xx chat completion body into text and usage, or into the reason it is unusable.

The body is a miner's: any bytes at all. Reading it raises `UnusableBody` and nothing else, and
what it returns is safe to store and score (the text encodes as UTF-8, the counts are bounded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard

import orjson

from throne.adapters.inference.policy import MAX_BODY_BYTES
from throne.domain.bounded_json import UnreadableJson, read_json
from throne.ports.chat_completions import Usage

MAX_TOKEN_COUNT = 2**63 - 1
"""The largest token count taken from a body: what a signed 64-bit integer holds, as every JSON
reader and SQL column does. A count outside ``0..MAX_TOKEN_COUNT`` is no count at all."""

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class ParsedBody:
    text: str
    usage: Usage | None


class UnusableBody(ValueError):
    """The endpoint answered 2xx with a body that carries no usable answer."""


def parse_completion_body(raw: bytes, *, max_bytes: int = MAX_BODY_BYTES) -> ParsedBody:
    """``choices[0].message.content`` and the token usage; raises `UnusableBody`."""
    if len(raw) > max_bytes:
        raise UnusableBody(f"body over {max_bytes} bytes")
    try:
        # orjson refuses nesting past its own limit (1,024 levels, without recursing in Python)
        # and any other trouble alike, with a JSONDecodeError.
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson is strict where the standard library is not (NaN, lone surrogates): a body
        # it refuses gets a second, lenient reading, bounded, before it is called unusable.
        try:
            payload = read_json(raw, max_bytes=max_bytes)
        except UnreadableJson as exc:
            raise UnusableBody(f"unreadable body of {len(raw)} bytes: {exc}") from None
    content = _content(payload)
    if content is None:
        raise UnusableBody("no choices[0].message.content in body")
    return ParsedBody(_encodable(content), _usage(payload))


def _content(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return None
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    return content if isinstance(content, str) else None


def _encodable(text: str) -> str:
    """``text`` with every lone surrogate (``"\\ud800"`` read leniently) replaced by U+FFFD, so
    that it encodes as UTF-8: the answer is stored by the digest of those bytes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def _usage(payload: dict[str, object]) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not _is_count(prompt) or not _is_count(completion):
        return None
    return Usage(prompt, completion)


def _is_count(value: object) -> TypeGuard[int]:
    # A bool is an int to Python, and no count to anyone else.
    return type(value) is int and 0 <= value <= MAX_TOKEN_COUNT
