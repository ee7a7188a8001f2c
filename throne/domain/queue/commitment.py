"""Parsing and checking a miner's commitment text, with no network.

A commitment is a JSON object with string ``model`` (``org/name`` on the model hub) and
``revision``; other keys are kept. Anything else is a `Rejection` with a reason, never an
exception: malformed input from the chain must not stop the loop that reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from throne.domain.bounded_json import UnreadableJson, read_json

MAX_COMMITMENT_BYTES = 1024
"""The longest commitment read. An honest one is a model id and a commit sha, under 200 bytes;
a kilobyte leaves room for extra keys and bounds what a hostile one costs to read."""


@dataclass(frozen=True)
class ParsedCommitment:
    model: str
    revision: str
    extra: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejection:
    reason: str


def commitment_digest(text: str) -> str:
    """What tells one commitment text from another: its SHA-256, hex."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_commitment(text: str) -> ParsedCommitment | Rejection:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_COMMITMENT_BYTES:
        return Rejection("commitment_too_large")
    if not text.strip():
        return Rejection("empty_commitment")
    try:
        obj = read_json(text, max_bytes=MAX_COMMITMENT_BYTES)
    except UnreadableJson:
        return Rejection("invalid_json")
    if not isinstance(obj, dict):
        return Rejection("not_a_json_object")
    model, revision = obj.get("model"), obj.get("revision")
    if model is None or revision is None:
        return Rejection("missing_fields")
    if not isinstance(model, str) or not isinstance(revision, str):
        return Rejection("wrong_field_types")
    if not model.strip() or not revision.strip():
        return Rejection("empty_fields")
    extra = {k: v for k, v in obj.items() if k not in ("model", "revision")}
    return ParsedCommitment(model=model, revision=revision, extra=extra)


def validity_problem(commitment: ParsedCommitment, hotkey: str, marker: str) -> str | None:
    """The first broken rule that needs no network, or None. Checked in this order:

    1. the model id contains ``marker`` (case-insensitive);
    2. the repo name (after the last ``/``) ends with the hotkey (case-insensitive).
    """
    if marker and marker.lower() not in commitment.model.lower():
        return f"model_name_missing_{marker.lower()}"
    repo_name = commitment.model.rsplit("/", 1)[-1]
    if not repo_name.lower().endswith(hotkey.lower()):
        return "repo_name_not_ending_with_hotkey"
    return None
