"""`standings`: the champion, the battle with its per-env progress, the queue, the terminated
miners and the weights — the parts `rank`, `miner`, `weights` and the demo's view share."""

from __future__ import annotations

from typing import Any

from throne.projections.standings import Standings


def standings(s: Standings) -> dict[str, Any]:
    out: dict[str, Any] = {
        "contest_version": s.version,
        "champion": None,
        "battle": None,
        "pool": None
        if s.pool is None
        else {k: s.pool[k] for k in ("pool", "block", "seed_commitment")},
        "queue": s.queue(),
        "terminated": [m for m in s.miners if m["status"] == "terminated"],
        "weights": {str(k): v for k, v in s.weights().items()},
    }
    champion = None if s.champion is None else s.miner(s.champion["hotkey"])
    if champion is not None and s.champion is not None:
        out["champion"] = {**champion, "since_block": s.champion["since"]}
    challenger = None if s.battle is None else s.miner(s.battle["hotkey"])
    if challenger is not None and s.battle is not None and s.pool is not None:
        out["battle"] = {
            **challenger,
            "started_block": s.battle["started"],
            "deadline_block": s.battle["deadline"],
            "progress": s.progress(),
        }
    return out
