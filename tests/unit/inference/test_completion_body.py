"""Reading a 2xx completion body: the answer, or the reason it is unusable."""

from __future__ import annotations

import re

import pytest

from throne.adapters.inference.completion_body import UnusableBody, parse_completion_body
from throne.ports.chat_completions import Usage


def test_the_text_and_usage_are_read_from_the_first_choice() -> None:
    raw = (
        b'{"choices": [{"message": {"content": "caf\xc3\xa9"}}, {"message": {"content": "no"}}],'
        b' "usage": {"prompt_tokens": 3, "completion_tokens": 1}}'
    )
    parsed = parse_completion_body(raw)
    assert (parsed.text, parsed.usage) == ("café", Usage(3, 1))


def test_json_that_only_a_lenient_parser_accepts_still_gives_the_answer() -> None:
    # NaN is what Python's own JSON writer emits for a float it cannot represent.
    raw = b'{"logprob": NaN, "choices": [{"message": {"content": "ok"}}]}'
    assert parse_completion_body(raw).text == "ok"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"choices": [{"message": {"content": "caf\xe9"}}]}', "not UTF-8 (byte 41)"),
        (b'{"choices": [{"mess', "unreadable body of 19 bytes: malformed JSON"),
        (b"[]", "no choices[0].message.content"),
        (b'{"choices": [{"message": {"content": 7}}]}', "no choices[0].message.content"),
    ],
)
def test_unusable_bodies_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(UnusableBody, match=re.escape(reason)):
        parse_completion_body(raw)
