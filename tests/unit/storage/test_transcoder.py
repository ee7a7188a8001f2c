"""OrjsonTranscoder writes what eventsourcing's own JSON transcoder writes, only faster."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import given
from hypothesis import strategies as st

from throne.adapters.storage.transcoder import OrjsonTranscoder
from throne.application import ThroneApplication
from throne.domain.contest.config import ContestConfig


def transcoders() -> tuple[JSONTranscoder, OrjsonTranscoder]:
    standard, fast = JSONTranscoder(), OrjsonTranscoder()
    for t in (standard, fast):
        t.register(UUIDAsHex())
        t.register(DecimalAsStr())
        t.register(DatetimeAsISO())
    return standard, fast


STANDARD, FAST = transcoders()
WHEN = datetime(2026, 11, 22, 6, 49, 11, 109291, tzinfo=UTC)


class Hotkey(str):
    """A str subclass: orjson hands it on, the standard encoder writes it as a string."""


def test_a_sample_is_written_byte_for_byte_as_the_standard_transcoder_writes_it() -> None:
    state = {
        "timestamp": WHEN,
        "pool": 1,
        "env": "SAT",
        "task_id": 9,
        "hotkey": "5Miner000000",
        "score": 0.33,
        "outcome": "ok",
        "response_digest": "ab" * 32,
        "note": "naïve ✓",
    }
    assert FAST.encode(state) == STANDARD.encode(state)
    assert FAST.decode(FAST.encode(state)) == state


@pytest.mark.parametrize(
    "state",
    [
        {"id": UUID("5f0b7a8e-2d4c-4c1e-9a57-7468726f6e65")},
        {"nested": [{"id": UUID(int=7)}]},
        {"score": float("nan"), "weight": float("inf")},
        {"verdict": None},
        {"weights": {0: 0.05, 6: 0.95}},
        {"big": 1 << 70},
        {"hotkey": Hotkey("5Abc")},
        {"amount": Decimal("1.25")},
    ],
    ids=["uuid", "nested-uuid", "nan", "null", "int-keys", "big-int", "str-subclass", "decimal"],
)
def test_what_orjson_would_write_differently_comes_out_as_the_standard_encoder_writes_it(
    state: dict[str, Any],
) -> None:
    assert FAST.encode(state) == STANDARD.encode(state)


def test_an_unregistered_type_is_refused_as_the_standard_transcoder_refuses_it() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        FAST.encode({"when": WHEN.date()})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(1 << 80), max_value=1 << 80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.datetimes(timezones=st.just(UTC))
    | st.uuids()
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_any_state_decodes_to_what_the_standard_transcoder_round_trips(value: Any) -> None:
    fast, standard = FAST.encode(value), STANDARD.encode(value)
    # The same JSON: equal once parsed (a float may be spelled 1e16 rather than 1e+16).
    assert fast == standard or json.loads(fast) == json.loads(standard)
    assert repr(FAST.decode(fast)) == repr(STANDARD.decode(standard))


def test_the_application_writes_with_the_orjson_transcoder() -> None:
    app = ThroneApplication(ContestConfig(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        assert isinstance(app.mapper.transcoder, OrjsonTranscoder)
    finally:
        app.close()
