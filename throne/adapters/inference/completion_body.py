"""Reading a 2xx chat completion body into text and usage, or into the reason it is unusable."""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson

from throne.adapters.inference.records import Usage


@dataclass(frozen=True)
class ParsedBody:
    text: str
    usage: Usage | None


class UnusableBody(ValueError):
    """The endpoint answered 2xx with a body that carries no usable answer."""


def parse_completion_body(raw: bytes) -> ParsedBody:
    """``choices[0].message.content`` and the token usage; raises `UnusableBody`."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # orjson is strict where the standard library is not (NaN, lone surrogates): a body
        # it refuses gets a second, lenient reading before it is called unusable.
        payload = _lenient_loads(raw)
    content = _content(payload)
    if content is None:
        raise UnusableBody("no choices[0].message.content in body")
    return ParsedBody(content, _usage(payload))


def _lenient_loads(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnusableBody(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except ValueError:
        raise UnusableBody(f"malformed JSON body ({len(raw)} bytes)") from None


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


def _usage(payload: dict[str, object]) -> Usage | None:
    usage = payload.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)
