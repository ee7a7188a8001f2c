"""What the standings keep of a commitment's other keys: all of them, as JSON, within the
size of a commitment; nothing when there are none or they would not fit."""

from __future__ import annotations

import orjson

from throne.domain.queue.commitment import MAX_COMMITMENT_BYTES
from throne.projections.standings import extra_json


def test_the_keys_are_kept_as_json_in_their_order() -> None:
    text = extra_json({"chute_id": "c-1", "notes": [1, {"a": None}]})
    assert text is not None
    assert orjson.loads(text) == {"chute_id": "c-1", "notes": [1, {"a": None}]}
    assert list(orjson.loads(text)) == ["chute_id", "notes"]


def test_no_keys_keep_nothing() -> None:
    assert extra_json({}) is None


def test_keys_larger_than_a_commitment_keep_nothing() -> None:
    fits = {"chute_id": "x" * (MAX_COMMITMENT_BYTES - len('{"chute_id":""}'))}
    assert extra_json(fits) is not None
    assert extra_json({"chute_id": "x" * MAX_COMMITMENT_BYTES}) is None
    # counted in bytes, not characters
    assert extra_json({"chute_id": "é" * (MAX_COMMITMENT_BYTES // 2)}) is None


def test_what_is_not_json_keeps_nothing() -> None:
    assert extra_json({"chute_id": object()}) is None
