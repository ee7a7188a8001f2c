"""What the signer agrees to do with the key, as checks on each request's body.

A refusal is a `Refused` naming the rule (``not_a_checkpoint``, ``wrong_netuid``, ...): the
signer answers 400 with it, and the daemon's log shows which rule its request broke. The rules
keep a stolen token from turning the hotkey into a general-purpose signing oracle: the key signs
the two messages of the audit export's format and nothing else (no extrinsic payload, no other
protocol's message), and sets weights on its own subnet only, with a vector a chain accepts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from throne.audit.format import signed_message_kind
from throne.domain.contest.weights import U16_MAX

#: The most uids a subnet has (u16 uids); a longer vector is refused before it is read.
MAX_UIDS = U16_MAX + 1
#: version keys are u64 on chain
MAX_VERSION_KEY = 2**64 - 1
#: The longest message the audit format signs is far below this.
MAX_MESSAGE_BYTES = 512


class Refused(Exception):
    """A request outside the signer's rules: ``rule`` names it, the message says how."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class ToSign:
    message: bytes
    kind: Literal["checkpoint", "end"]


@dataclass(frozen=True)
class WeightRequest:
    netuid: int
    #: (uid, u16) pairs, uids distinct, at least one value above zero
    weights: tuple[tuple[int, int], ...]
    version_key: int


def to_sign(body: Any) -> ToSign:
    """``{"message": HEX}``, where the message is a version-3 checkpoint's or end record's."""
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        raise Refused("bad_request", 'the body must be {"message": HEX}')
    text = body["message"]
    if len(text) > 2 * MAX_MESSAGE_BYTES:
        raise Refused("not_a_checkpoint", f"longer than {MAX_MESSAGE_BYTES} bytes")
    try:
        message = bytes.fromhex(text)
    except ValueError:
        raise Refused("bad_request", "the message is not hex") from None
    kind = signed_message_kind(message)
    if kind is None:
        raise Refused(
            "not_a_checkpoint",
            "only an audit checkpoint's or end record's message (throne-audit/3) is signed",
        )
    return ToSign(message, kind)


def weight_request(body: Any, netuid: int) -> WeightRequest:
    """``{"netuid", "uids", "weights", "version_key"}`` for the signer's own ``netuid``: as
    many u16 weights as uids, each uid once, not all zero."""
    if not isinstance(body, dict):
        raise Refused("bad_request", "the body must be a JSON object")
    missing = [k for k in ("netuid", "uids", "weights", "version_key") if k not in body]
    if missing:
        raise Refused("bad_request", f"missing {', '.join(missing)}")
    asked = body["netuid"]
    if not _is_int(asked) or asked != netuid:
        raise Refused("wrong_netuid", f"this signer sets weights on subnet {netuid}, not {asked!r}")
    uids, values = body["uids"], body["weights"]
    if not isinstance(uids, list) or not isinstance(values, list):
        raise Refused("bad_request", "uids and weights must be lists")
    if len(uids) != len(values):
        raise Refused("length_mismatch", f"{len(uids)} uids but {len(values)} weights")
    if len(uids) > MAX_UIDS:
        raise Refused("uid_out_of_range", f"more than {MAX_UIDS} uids")
    for uid in uids:
        if not _is_int(uid) or not 0 <= uid <= U16_MAX:
            raise Refused("uid_out_of_range", f"uid {uid!r} is not in 0..{U16_MAX}")
    for value in values:
        if not _is_int(value) or not 0 <= value <= U16_MAX:
            raise Refused("weight_out_of_range", f"weight {value!r} is not a u16 (0..{U16_MAX})")
    if len(set(uids)) != len(uids):
        twice = sorted(u for u, n in Counter(uids).items() if n > 1)
        raise Refused("duplicate_uid", f"uids {twice} appear more than once")
    if not any(values):
        raise Refused("all_zero", "no weight above zero: there is nothing to set")
    key = body["version_key"]
    if not _is_int(key) or not 0 <= key <= MAX_VERSION_KEY:
        raise Refused("bad_version_key", f"version_key {key!r} is not a u64")
    return WeightRequest(netuid, tuple(zip(uids, values, strict=True)), key)


def _is_int(value: Any) -> bool:
    return type(value) is int
