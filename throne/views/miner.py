"""`miner`: one miner by hotkey or uid — its record, place, weight and what befell it."""

from __future__ import annotations

from typing import Any

from throne.application import ThroneApplication
from throne.views.contest_log import said_about


def find_miner(app: ThroneApplication, hotkey_or_uid: str | int) -> dict[str, Any] | None:
    """A hotkey first; failing that, a number is the uid a miner sits at now."""
    if isinstance(hotkey_or_uid, str):
        found = app.miner(hotkey_or_uid)
        if found is not None or not hotkey_or_uid.strip().isdigit():
            return found
    uid = int(hotkey_or_uid)
    at_uid = [m for m in app.miners() if m["uid"] == uid]
    # A uid is only where a hotkey sits now; the newest commitment there is the one shown.
    return max(at_uid, key=lambda m: m["first_block"]) if at_uid else None


def miner(app: ThroneApplication, hotkey_or_uid: str | int) -> dict[str, Any] | None:
    found = find_miner(app, hotkey_or_uid)
    if found is None:
        return None
    standings = app.standings()
    position = next(
        (q["position"] for q in standings["queue"] if q["hotkey"] == found["hotkey"]), None
    )
    uid = found["uid"]
    return {
        **found,
        "valid": found["invalid_reason"] is None,
        "queue_position": position,
        "weight": standings["weights"].get(str(uid), 0.0) if uid is not None else 0.0,
        "events": miner_events(app, found["hotkey"]),
    }


def miner_events(app: ThroneApplication, hotkey: str) -> list[dict[str, Any]]:
    """The contest events about this hotkey, oldest first, as short dicts."""
    return said_about(app, hotkey)
