"""The environment protocol's messages: each parse refuses what the protocol does not allow,
with a reason name, and each dump parses back to itself."""

from __future__ import annotations

import hashlib
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from throne.envs.protocol import (
    MAX_BODY_BYTES,
    Call,
    EnvFailed,
    Evaluation,
    ProtocolError,
    Step,
    chat_seed,
    dump_answer,
    dump_failure,
    dump_methods,
    parse_answer,
    parse_methods,
    score_of,
    task_seed,
    usage_of,
)


def test_the_seed_is_the_references_formula() -> None:
    expected = int(hashlib.sha256(b"SAT:42").hexdigest()[:8], 16)
    assert task_seed("SAT", 42) == expected
    assert 0 <= task_seed("DED", 10**12) < 2**32


@given(st.text(min_size=1, max_size=8), st.integers(min_value=0, max_value=2**40))
def test_the_chat_seed_is_the_seed_throne_always_sent(env: str, task_id: int) -> None:
    # The 31-bit seed the validator sent before envs were services: the first 4 bytes, masked.
    digest = hashlib.sha256(f"{env}:{task_id}".encode()).digest()
    assert chat_seed(task_seed(env, task_id)) == int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def test_a_call_round_trips_and_a_bad_one_is_named() -> None:
    call = Call("evaluate", {"task_id": 3, "seed": 9})
    assert Call.parse(call.dump()) == Call("evaluate", {"task_id": 3, "seed": 9}, ())
    for body in (b"[]", b'{"method": 3}', b'{"method": "x", "args": {}}', b"<html>"):
        with pytest.raises(ProtocolError) as err:
            Call.parse(body)
        assert err.value.reason in ("malformed_call", "not_json")


def test_answers_success_failure_and_what_breaks_the_protocol() -> None:
    assert parse_answer(dump_answer({"score": 1})) == {"score": 1}
    with pytest.raises(EnvFailed) as failed:
        parse_answer(dump_failure("the sandbox died"))
    assert failed.value.reason == "env_failed" and failed.value.detail == "the sandbox died"
    cases = {
        b"<html><body>502 Bad Gateway</body></html>": "not_json",
        b'{"status": "ok"}': "malformed_answer",
        b'"success"': "malformed_answer",
        b'{"status": "success"}': "no_result",
        b'{"status": "success", "result": null}': "no_result",
        b"[" * 100_000: "not_json",
        b" " * (MAX_BODY_BYTES + 1): "body_too_large",
    }
    for body, reason in cases.items():
        with pytest.raises(ProtocolError) as err:
            parse_answer(body)
        assert err.value.reason == reason, body[:40]


def test_methods_in_every_shape_the_services_send() -> None:
    assert parse_methods(dump_methods({"evaluate": "(task_id, seed)"})) == {"evaluate"}
    assert parse_methods(b'["reset", "step"]') == {"reset", "step"}
    assert parse_methods(b'{"evaluate": {}, "health": {}}') == {"evaluate", "health"}
    assert parse_methods(b'{"methods": [{"name": "stop"}]}') == {"stop"}
    with pytest.raises(ProtocolError, match="malformed_methods"):
        parse_methods(b"[3]")
    with pytest.raises(ProtocolError, match="malformed_methods"):
        parse_methods(b"7")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "score_missing"),
        ("1", "score_not_a_number"),
        (True, "score_not_a_number"),
        ([1], "score_not_a_number"),
        (math.nan, "score_not_finite"),
        (math.inf, "score_not_finite"),
        (2.0, "score_out_of_range"),
        (-0.5, "score_out_of_range"),
    ],
)
def test_a_score_must_be_a_finite_number_in_the_declared_range(value: object, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        score_of(value, (0.0, 1.0))
    assert err.value.reason == reason


def test_scores_in_range_pass_and_the_range_is_the_envs() -> None:
    assert score_of(1, (0.0, 1.0)) == 1.0
    assert score_of(57.5, (0.0, 100.0)) == 57.5


def test_an_evaluation_parses_from_the_wire_nan_included() -> None:
    body = b'{"status": "success", "result": {"score": NaN, "success": true}}'
    with pytest.raises(ProtocolError, match="score_not_finite"):
        Evaluation.parse(parse_answer(body))
    with pytest.raises(ProtocolError, match="score_missing"):
        Evaluation.parse({"success": True, "extra": {}})
    with pytest.raises(ProtocolError, match="malformed_result"):
        Evaluation.parse([0.5])


def test_an_evaluation_round_trips_with_its_conversation_and_usage() -> None:
    e = Evaluation(
        0.5,
        conversation=({"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}),
        prompt_tokens=7,
        completion_tokens=3,
    )
    assert Evaluation.parse(json.loads(json.dumps(e.dump()))) == e


def test_usage_is_reported_not_judged() -> None:
    assert usage_of({"prompt_tokens": 5, "completion_tokens": 2}) == (5, 2)
    assert usage_of({"prompt_tokens": -1, "completion_tokens": "many"}) == (0, 0)
    assert usage_of(None) == (0, 0)


def test_a_step_round_trips_and_a_malformed_one_is_named() -> None:
    step = Step("lower", "ep-1", 0.0, False, False, {"turn": 2})
    assert Step.parse(step.dump()) == step
    bad = [
        [],
        {"episode_id": "e"},
        {"observation": "x"},
        {"observation": "x", "episode_id": "e", "done": "yes"},
        {"observation": "x", "episode_id": True},
    ]
    for result in bad:
        with pytest.raises(ProtocolError, match="malformed_step"):
            Step.parse(result)
    with pytest.raises(ProtocolError, match="score_not_finite"):
        Step.parse({"observation": "x", "episode_id": "e", "reward": math.nan})
