"""The canonical form of export lines: orjson's fast path must write exactly the bytes the
standard library's definition writes, for every JSON value, or hand the value over to it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from throne.audit.format import canonical_json


def reference(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-1e-3, max_value=1e-3, allow_nan=False)  # around 1e-4 and below
    | st.sampled_from([1e-5, -1.5e-7, 5e-324, 1e16, -1e22, 9.999e15, 0.0001, -0.0])
    | st.text()  # control characters, astral planes and lone surrogates
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=1500, deadline=None)
@given(json_values)
def test_every_json_value_is_written_as_the_standard_library_writes_it(value: Any) -> None:
    try:
        expected = reference(value)
    except UnicodeEncodeError:  # a lone surrogate cannot be written as UTF-8 by either
        with pytest.raises(UnicodeEncodeError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1.0, math.nan]])
def test_nan_and_infinities_are_refused_as_before(bad: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(bad)


def test_a_small_float_inside_a_string_only_costs_the_slow_path() -> None:
    value = {"detail": "score,1e-5 and :0.00001", "score": 0.5}
    assert canonical_json(value) == reference(value)
