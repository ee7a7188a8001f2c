"""`miner`: one miner by hotkey or uid — its record, place, weight and what befell it."""

from __future__ import annotations

from typing import Any

from throne.application import ThroneApplication
from throne.domain.contest.contest import Contest
from throne.views.contest_log import contest_events
from throne.views.timeline import summarize_verdict


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
    out: list[dict[str, Any]] = []
    for e in contest_events(app):
        about = _about(e, hotkey)
        if about is not None:
            out.append({"event": type(e).__name__, **about})
    return out


def _about(e: Any, hotkey: str) -> dict[str, Any] | None:
    if isinstance(e, Contest.Dethroned):
        if e.new_champion["hotkey"] == hotkey:
            return {"block": e.block, "beat": e.old_champion["hotkey"], **_verdict(e.verdict)}
        if e.old_champion["hotkey"] == hotkey:
            return {"block": e.block, "lost_to": e.new_champion["hotkey"]}
        return None
    if getattr(e, "hotkey", None) != hotkey:
        return None
    if isinstance(e, Contest.Committed):
        return {"block": e.first_block, "uid": e.uid, "model": e.model, "revision": e.revision}
    if isinstance(e, Contest.Terminated):
        return {"block": e.block, "reason": e.reason, **_verdict(e.verdict)}
    if isinstance(e, Contest.Invalidated | Contest.ChallengerReleased | Contest.ChampionCrowned):
        return {"block": e.block, "reason": e.reason}
    if isinstance(e, Contest.BattleStarted):
        return {"block": e.block, "deadline_block": e.deadline_block, "pool": e.pool}
    if isinstance(e, Contest.Registered):
        return {"block": e.block, "uid": e.uid}
    if isinstance(e, Contest.Deregistered):
        return {"block": e.block}
    if isinstance(e, Contest.ModelHashRecorded):
        return {"model_hash": e.model_hash}
    return None


def _verdict(verdict: dict[str, Any] | None) -> dict[str, Any]:
    return {} if verdict is None else {"verdict": summarize_verdict(verdict)}
