"""Weights as a pure function of who holds the crown (winner takes all, minus the burn), and
the u16 vector a subnet stores for them.

`to_u16` has bittensor 11's semantics: every weight is scaled by the largest one, rounded to
the nearest of 0..65535 (Python's ``round``: ties go to the even integer), and the uids that
round to zero are dropped; uids are taken in ascending order. Both chain adapters send what it
gives, so a recorded vector is the one the chain holds, and the audit recomputes it from the
recorded weights; a test checks it against the SDK's own function on random inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BURN_UID = 0
U16_MAX = 65535


class InvalidWeights(ValueError):
    """Weights that no chain accepts: negative, not finite, out-of-range uids, or all zero."""


def contest_weights(
    champion_uid: int | None, champion_valid: bool, burn: float
) -> dict[int, float]:
    """The champion's uid gets ``1 - burn`` and UID 0 gets ``burn``.

    No champion, a champion without a uid (deregistered) or an invalidated champion sends
    everything to UID 0. A champion sitting at UID 0 gets it all. Zero entries are dropped.
    """
    if champion_uid is None or not champion_valid or champion_uid == BURN_UID:
        return {BURN_UID: 1.0}
    if burn <= 0.0:
        return {champion_uid: 1.0}
    if burn >= 1.0:
        return {BURN_UID: 1.0}
    return {champion_uid: 1.0 - burn, BURN_UID: burn}


def to_u16(weights: Mapping[int, float]) -> tuple[tuple[int, int], ...]:
    """``(uid, u16)`` pairs by ascending uid; the largest weight becomes 65535, zeros drop out."""
    items = sorted((int(uid), float(w)) for uid, w in weights.items())
    for uid, w in items:
        if not math.isfinite(w) or w < 0:
            raise InvalidWeights(f"weight of uid {uid} is {w}; weights must be finite and >= 0")
        if not 0 <= uid <= U16_MAX:
            raise InvalidWeights(f"uid {uid} is outside 0..{U16_MAX}")
    top = max((w for _, w in items), default=0.0)
    if top == 0:
        raise InvalidWeights("all weights are zero; there is nothing to set")
    scaled = ((uid, round(w / top * U16_MAX)) for uid, w in items)
    return tuple((uid, value) for uid, value in scaled if value != 0)
