"""Folds of the contest's events into reigns, battles and terminations.

Pure functions of an event sequence (oldest first), so an auditor's replay and the views agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from throne.domain.contest.contest import Contest


def fold_reigns(events: Iterable[Any]) -> list[dict[str, Any]]:
    """Who held the crown from which block to which, how they took it and how they lost it."""
    models: dict[str, str | None] = {}
    reigns: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for e in events:
        if isinstance(e, Contest.Committed):
            models[e.hotkey] = e.model
        elif isinstance(e, Contest.ChampionCrowned):
            taken: dict[str, Any] = {"how": "cold_start", "reason": e.reason}
            current = _reign(e.hotkey, e.revision, e.uid, models, e.block, taken)
            reigns.append(current)
        elif isinstance(e, Contest.Dethroned):
            if current is not None:
                _close(current, e.block, {"how": "dethroned", "by": e.new_champion.hotkey})
            new = e.new_champion
            taken = {
                "how": "dethrone",
                "from": e.old_champion.hotkey,
                "pool": e.pool,
                "verdict": summarize_verdict(e.verdict.to_dict()),
            }
            assert new.revision is not None
            current = _reign(new.hotkey, new.revision, new.uid, models, e.block, taken)
            reigns.append(current)
        elif (
            isinstance(e, Contest.Terminated)
            and current is not None
            and current["hotkey"] == e.hotkey
            and current["to_block"] is None
        ):
            _close(current, e.block, {"how": "terminated", "reason": e.reason})
    return reigns


def fold_battles(events: Iterable[Any]) -> list[dict[str, Any]]:
    """Every battle started, with how it ended: dethroned, terminated, released or ongoing."""
    battles: list[dict[str, Any]] = []
    champion: str | None = None
    current: dict[str, Any] | None = None
    for e in events:
        if isinstance(e, Contest.ChampionCrowned):
            champion = e.hotkey
        elif isinstance(e, Contest.BattleStarted):
            current = {
                "challenger": e.hotkey,
                "revision": e.revision,
                "uid": e.uid,
                "champion": champion,
                "pool": e.pool,
                "started_block": e.block,
                "ended_block": None,
                "result": "ongoing",
                "reason": None,
                "verdict": None,
            }
            battles.append(current)
        elif isinstance(e, Contest.Dethroned):
            champion = e.new_champion.hotkey
            if current is not None and current["result"] == "ongoing":
                won = summarize_verdict(e.verdict.to_dict())
                _end(current, e.block, "dethroned", str(won["reason"]), won)
        elif isinstance(e, Contest.ChallengerReleased):
            if current is not None and current["challenger"] == e.hotkey:
                _end(current, e.block, "released", e.reason, None)
        elif isinstance(e, Contest.Terminated):
            if champion == e.hotkey:
                champion = None
            ours = current is not None and current["challenger"] == e.hotkey
            if ours and current is not None and current["result"] == "ongoing":
                lost = None if e.verdict is None else summarize_verdict(e.verdict.to_dict())
                _end(current, e.block, "terminated", e.reason, lost)
    return battles


def fold_terminations(events: Iterable[Any]) -> list[dict[str, Any]]:
    """Every terminated miner, oldest first, with the reason and the verdict's reason if any."""
    return [
        {
            "hotkey": e.hotkey,
            "uid": e.uid,
            "revision": e.revision,
            "block": e.block,
            "reason": e.reason,
            "verdict": None if e.verdict is None else summarize_verdict(e.verdict.to_dict()),
        }
        for e in events
        if isinstance(e, Contest.Terminated)
    ]


def summarize_verdict(verdict: dict[str, Any]) -> dict[str, Any]:
    """A verdict's winner, reason and, per env, the outcome with the numbers it was decided on."""
    keep = (
        "verdict",
        "n",
        "champion_mean",
        "challenger_mean",
        "dominant_threshold",
        "not_worse_threshold",
    )
    return {
        "winner": verdict.get("winner"),
        "reason": verdict.get("reason"),
        "per_env": {
            env: {k: v[k] for k in keep if k in v} for env, v in verdict.get("per_env", {}).items()
        },
    }


def _reign(
    hotkey: str,
    revision: str,
    uid: int | None,
    models: dict[str, str | None],
    block: int,
    taken: dict[str, Any],
) -> dict[str, Any]:
    return {
        "hotkey": hotkey,
        "uid": uid,
        "model": models.get(hotkey),
        "revision": revision,
        "from_block": block,
        "to_block": None,
        "taken_by": taken,
        "ended_by": None,
    }


def _close(reign: dict[str, Any], block: int, ended_by: dict[str, Any]) -> None:
    reign["to_block"] = block
    reign["ended_by"] = ended_by


def _end(
    battle: dict[str, Any], block: int, result: str, reason: str, verdict: dict[str, Any] | None
) -> None:
    battle["ended_block"] = block
    battle["result"] = result
    battle["reason"] = reason
    battle["verdict"] = verdict
