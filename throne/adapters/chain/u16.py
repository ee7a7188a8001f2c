"""Relative float weights to the u16 vector a subnet stores, with bittensor 11's semantics.

bittensor scales every weight by the largest one, rounds to the nearest of 0..65535 (Python's
``round``: ties go to the even integer) and drops the uids that round to zero. Uids are taken
in ascending order. Both chain adapters use this so that a recorded vector is the one the
chain holds; a test checks it against the SDK's own function on random inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

U16_MAX = 65535


class InvalidWeights(ValueError):
    """Weights that no chain accepts: negative, not finite, out-of-range uids, or all zero."""


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
