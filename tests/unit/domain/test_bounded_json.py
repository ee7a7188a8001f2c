"""Reading JSON from outside: the standard library's answer, within a size and a depth."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from throne.domain.bounded_json import (
    MAX_JSON_DEPTH,
    UnreadableJson,
    nests_deeper_than,
    read_json,
)

BIG = 1 << 20
# Strings full of what a depth scan could mistake for structure.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\,:ab\u00e9\ud83d\ude00 \n'), max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | tricky_text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    return 0


def nested_text(levels: int, keys: list[str], leaf: Any, gap: str) -> str:
    """``levels`` arrays or objects (keyed from ``keys``, in turn) around ``leaf``, as JSON
    text: written by hand, as the standard library cannot write past its recursion limit."""
    opening, closing = [], []
    for i in range(levels):
        if keys:
            opening.append("{" + gap + json.dumps(keys[i % len(keys)]) + gap + ":" + gap)
            closing.append(gap + "}")
        else:
            opening.append("[" + gap)
            closing.append(gap + "]")
    return "".join(opening) + json.dumps(leaf) + "".join(reversed(closing))


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_json_within_the_limits_reads_as_the_standard_library_reads_it(value: Any) -> None:
    text = json.dumps(value)
    assert read_json(text, max_bytes=BIG) == json.loads(text)
    assert read_json(text.encode("utf-8"), max_bytes=BIG) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(values, st.integers(0, 8))
def test_the_depth_scan_is_exact_on_json_whatever_its_strings_hold(value: Any, limit: int) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert nests_deeper_than(text, limit) == (depth(value) > limit)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 3000),
    st.lists(tricky_text, max_size=3),
    scalars,
    st.sampled_from(["", " ", "\n\t"]),
    st.booleans(),
)
def test_nesting_past_the_limit_is_refused_before_parsing_and_within_it_is_read(
    levels: int, keys: list[str], leaf: Any, gap: str, cut: bool
) -> None:
    text = nested_text(levels, keys, leaf, gap)
    if cut:
        text = text[:-1]  # a body cut short: every level is still open
    if levels > MAX_JSON_DEPTH:
        with pytest.raises(UnreadableJson, match="nested deeper than"):
            read_json(text, max_bytes=BIG)
    elif cut:
        with pytest.raises(UnreadableJson, match="malformed JSON"):
            read_json(text, max_bytes=BIG)
    else:
        value = read_json(text, max_bytes=BIG)
        assert value == json.loads(text) and depth(value) == levels


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_input_gives_the_standard_value_or_unreadable_json_never_another_error(
    data: bytes | str,
) -> None:
    try:
        value = read_json(data, max_bytes=BIG)
    except UnreadableJson:
        return
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    # What it reads, it reads as the standard library does (written out, NaN equals NaN).
    assert json.dumps(value) == json.dumps(json.loads(text))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("[" * 1100 + "]" * 1100, "nested deeper than 64 levels"),
        ('{"a":' * 5000, "nested deeper than 64 levels"),
        ('["' + "\\" * 8 + '",' + "[" * 100, "nested deeper than 64 levels"),
        ('["' + "\\" * 9 + '",' + "[" * 100, "malformed JSON: Unterminated string"),
        ("1" * 5000, "malformed JSON"),
        ("\ufeff{}", "malformed JSON"),
        ('"\\x"', "malformed JSON"),
        (b"\xff{}", "not UTF-8 (byte 0)"),
        (b"\xef\xbb\xbf{}", "malformed JSON"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8 (byte 0)"),
        (b"x" * (BIG + 1), f"over the limit of {BIG} bytes"),
        ("é" * (BIG // 2 + 1), f"over the limit of {BIG} bytes"),
    ],
    ids=[
        "1100-arrays",
        "5000-objects-cut",
        "escaped-backslashes-then-brackets",
        "escaped-quote-then-brackets-in-the-string",
        "5000-digit-integer",
        "text-bom",
        "invalid-escape",
        "not-utf8",
        "utf8-bom",
        "utf16",
        "bytes-over-cap",
        "text-over-cap-in-utf8",
    ],
)
def test_hostile_inputs_are_refused_with_their_reason(data: bytes | str, reason: str) -> None:
    with pytest.raises(UnreadableJson, match=re.escape(reason)):
        read_json(data, max_bytes=BIG)


def test_what_the_standard_library_reads_leniently_stays_readable() -> None:
    value = read_json(
        '[NaN, Infinity, -Infinity, 1e999, "\\ud800", 1' + "0" * 4000 + "]", max_bytes=BIG
    )
    assert isinstance(value, list)
    assert math.isnan(value[0]) and value[1:4] == [math.inf, -math.inf, math.inf]
    assert value[4] == "\ud800" and value[5] == 10**4000


def test_exactly_the_limit_is_read_and_one_more_level_is_not() -> None:
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert depth(read_json(at_limit, max_bytes=BIG)) == MAX_JSON_DEPTH
    with pytest.raises(UnreadableJson):
        read_json("[" + at_limit + "]", max_bytes=BIG)
    # Brackets inside strings are text, however many.
    assert read_json(json.dumps(["[" * 10_000, "{" * 10_000]), max_bytes=BIG)
