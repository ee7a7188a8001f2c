"""What happened, read back from the log: reigns, terminations, battles decided."""

from __future__ import annotations

from typing import Any

from throne.application import ThroneApplication
from throne.domain.contest.contest import Contest


def reigns(app: ThroneApplication) -> list[dict[str, Any]]:
    """Who held the crown from which block to which, and how they took it."""
    out: list[dict[str, Any]] = []

    def end(block: int, by: str | None) -> None:
        if out and out[-1]["until_block"] is None:
            out[-1]["until_block"] = block
            out[-1]["ended_by"] = by

    for e in app.events.get(app.contest_id):
        if isinstance(e, Contest.ChampionCrowned):
            out.append(_reign(e.hotkey, e.uid, e.block, "cold_start"))
        elif isinstance(e, Contest.Dethroned):
            end(e.block, e.new_champion.hotkey)
            out.append(_reign(e.new_champion.hotkey, e.new_champion.uid, e.block, e.verdict.reason))
        elif isinstance(e, Contest.Terminated) and out and out[-1]["hotkey"] == e.hotkey:
            end(e.block, None)  # abdication; a dethroned champion's reign already ended
    return out


def _reign(hotkey: str, uid: int | None, block: int, how: str) -> dict[str, Any]:
    return {
        "hotkey": hotkey,
        "uid": uid,
        "from_block": block,
        "until_block": None,
        "took_it_by": how,
        "ended_by": None,
    }


def battles_decided(app: ThroneApplication) -> int:
    """Battles that ended with a verdict, a release limit, a deadline or an invalidation."""
    challengers: set[str] = set()
    decided = 0
    for e in app.events.get(app.contest_id):
        if isinstance(e, Contest.BattleStarted):
            challengers.add(e.hotkey)
        elif isinstance(e, Contest.Dethroned) or (
            isinstance(e, Contest.Terminated)
            and e.hotkey in challengers
            and not e.reason.startswith("dethroned_by:")
        ):
            decided += 1
    return decided
