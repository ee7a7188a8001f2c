"""Weights as a pure function of who holds the crown: winner takes all, minus the burn."""

from __future__ import annotations

BURN_UID = 0


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
