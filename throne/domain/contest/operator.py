"""Operator actions: what a validator's operator may do to the contest, and the rule each obeys.

Nothing changes the contest except through its log: an operator's blacklist, burn, pool
rotation and pause are commands of the `Contest` like any other, each recorded as an event with
the operator's stated reason, replayed by every audit and shown by every read. A command that
breaks its rule is refused with the rule's name (`Refused.rule`), and records nothing.

What each does:
- **blacklist** a hotkey: it leaves the queue (it never battles while blacklisted); a
  challenger blacklisted mid-battle goes back to waiting, its battle abandoned, no release
  counted; a blacklisted champion keeps the throne but is paid nothing (the weights burn, as
  for an invalid champion). **unblacklist** undoes it: the miner is back at its place.
- **set the burn** in [0, 1]: the share UID 0 gets, in force until set again (it outlives a
  change of the configuration file, which no longer sets the burn once an operator has).
- **rotate the pool** now: only between battles; the next step draws a new pool, as when the
  pool's age reaches ``refresh_blocks``.
- **pause** the contest: no step is taken (no crown, no battle, no pool) and no work is owed;
  weights are still set. **resume** moves a paused battle's deadline by the blocks it was paused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

#: the longest reason an operator may give (a log line, not a document)
MAX_REASON_CHARS = 500


class Refused(ValueError):
    """An operator command that breaks a rule; ``rule`` names it (``battle_in_progress``...)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


@attrs.frozen
class Operations:
    """What operators have set, as the contest holds it."""

    #: the block the contest was paused at; None while it runs
    paused_at: int | None = None
    #: the burn an operator set, in force over the configuration's; None: the configuration's
    burn: float | None = None
    #: a pool rotation ordered and not yet drawn
    rotation_ordered: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "paused_at": self.paused_at,
            "burn": self.burn,
            "rotation_ordered": self.rotation_ordered,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Operations:
        paused = d.get("paused_at")
        burn = d.get("burn")
        return cls(
            None if paused is None else int(paused),
            None if burn is None else float(burn),
            bool(d.get("rotation_ordered", False)),
        )

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def burn_in_force(self, configured: float) -> float:
        return configured if self.burn is None else self.burn


def check_reason(reason: str) -> str:
    """The operator's reason, stripped: required, one line, at most `MAX_REASON_CHARS`."""
    text = " ".join(reason.split())
    if not text:
        raise Refused("reason_required", "say why: every operator action records a reason")
    if len(text) > MAX_REASON_CHARS:
        raise Refused("reason_too_long", f"at most {MAX_REASON_CHARS} characters")
    return text


def check_burn(burn: float) -> float:
    if isinstance(burn, bool) or not isinstance(burn, int | float) or not math.isfinite(burn):
        raise Refused("burn_out_of_range", f"the burn must be a number in [0, 1], got {burn!r}")
    if not 0.0 <= burn <= 1.0:
        raise Refused("burn_out_of_range", f"the burn must lie in [0, 1], got {burn}")
    return float(burn)
