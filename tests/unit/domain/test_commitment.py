import json

import pytest

from throne.domain.queue.commitment import (
    ParsedCommitment,
    Rejection,
    parse_commitment,
    validity_problem,
)


def test_a_json_object_with_model_and_revision_parses_and_keeps_other_keys() -> None:
    got = parse_commitment(json.dumps({"model": "org/affine-x", "revision": "abc", "chute_id": 3}))
    assert got == ParsedCommitment("org/affine-x", "abc", {"chute_id": 3})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty_commitment"),
        ("   ", "empty_commitment"),
        ("not json", "invalid_json"),
        ("[1, 2]", "not_a_json_object"),
        ('{"model": "a/b"}', "missing_fields"),
        ('{"model": 1, "revision": "r"}', "wrong_field_types"),
        ('{"model": "", "revision": "r"}', "empty_fields"),
        (json.dumps({"model": "a/b", "revision": "r", "pad": "x" * 1100}), "commitment_too_large"),
        ("[" * 100000, "commitment_too_large"),
        ('{"model": "a/b", "revision": "r"', "invalid_json"),
    ],
)
def test_malformed_commitments_are_rejections_never_exceptions(text: str, reason: str) -> None:
    assert parse_commitment(text) == Rejection(reason)


def test_deeply_nested_json_under_the_size_cap_is_rejected_cleanly() -> None:
    assert isinstance(parse_commitment("[" * 1000), Rejection)
    nested = "[" * 65 + "]" * 65
    assert parse_commitment(nested) == Rejection("invalid_json")
    extra = '{"model": "a/b", "revision": "r", "x": ' + nested + "}"
    assert parse_commitment(extra) == Rejection("invalid_json")
    # Within the reading depth (the object itself is one level), extra keys are kept.
    kept = '{"model": "a/b", "revision": "r", "x": ' + "[" * 63 + "]" * 63 + "}"
    assert isinstance(parse_commitment(kept), ParsedCommitment)


def test_repo_name_must_end_with_the_hotkey_case_insensitively() -> None:
    ok = ParsedCommitment("org/affine-5HKEY", "r")
    assert validity_problem(ok, "5hkey", "affine") is None
    bad = ParsedCommitment("org/affine-other", "r")
    assert validity_problem(bad, "5hkey", "affine") == "repo_name_not_ending_with_hotkey"


def test_model_name_must_contain_the_marker() -> None:
    got = validity_problem(ParsedCommitment("org/model-5hkey", "r"), "5hkey", "affine")
    assert got == "model_name_missing_affine"
    assert validity_problem(ParsedCommitment("org/AFFINE-5hkey", "r"), "5hkey", "affine") is None
