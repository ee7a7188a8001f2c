"""`rank`: champion, battle in progress, task pool, queue, recent terminations and the table.

The table follows the reference's get-rank: champion first, then active miners (valid, never
terminated), then the rest, each group by ``(first_block, uid)``. An env cell holds a mean and
its sample count and, for a challenger, the not-worse (``lower``) and dominant (``upper``)
bounds its mean is measured against — frozen at the verdict for a terminated challenger.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from throne.domain.contest.config import ContestConfig
from throne.domain.contest.pool import completeness_threshold
from throne.domain.contest.rules import Scores
from throne.domain.contest.state import Pool
from throne.projections.read_side import ReadSide
from throne.views.standings import standings as shape_standings

Cell = dict[str, Any]
INVALID_LABEL_CHARS = 11


def rank(reads: ReadSide, recent: int = 10, deployed: Collection[str] = ()) -> dict[str, Any]:
    """``deployed``: the hotkeys whose models are served now (the hosting scheduler's
    deployments table), marked in their rows as the reference's ⚡ column does."""
    with reads.read() as r:
        s = r.standings()
        cfg = r.config
        terminations = r.terminations()
    standings = shape_standings(s)
    pool = s.pool
    champion = _champion(standings["champion"], pool, s.champion_scores, cfg)
    battle = standings["battle"]
    if battle is not None:
        battle = {**battle, "champion_complete": bool(champion and champion["complete"])}
    miners = [m.to_dict() for m in s.miners]
    valid = sum(1 for m in miners if m["invalid_reason"] is None)
    return {
        "netuid": reads.netuid,
        "block": s.last_block,
        "contest_version": standings["contest_version"],
        "envs": [e.name for e in cfg.envs],
        "champion": champion,
        "battle": battle,
        "pool": None if pool is None else _public_pool(pool),
        "queue": [_queue_entry(m) for m in standings["queue"]],
        "recent_terminations": list(reversed(terminations[-recent:])) if recent > 0 else [],
        "counts": {
            "miners": len(miners),
            "valid": valid,
            "invalid": len(miners) - valid,
            "queued": len(standings["queue"]),
            "terminated": sum(1 for m in miners if m["status"] == "terminated"),
        },
        "weights": standings["weights"],
        "operations": standings["operations"],
        "blacklisted": [
            {"hotkey": m["hotkey"], "uid": m["uid"], "reason": m["blacklisted"]}
            for m in miners
            if m["blacklisted"] is not None
        ],
        "rows": [
            {**row, "deployed": row["hotkey"] in deployed}
            for row in _rows(miners, standings, champion, terminations, cfg)
        ],
    }


def _public_pool(pool: Pool) -> dict[str, Any]:
    # Task ids would let a miner train on the pool: only their number is shown.
    return {
        "pool": pool.pool,
        "block": pool.block,
        "seed_commitment": pool.seed_commitment,
        "sizes": {env: len(ids) for env, ids in pool.task_ids.items()},
    }


def _queue_entry(m: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("position", "uid", "hotkey", "model", "revision", "first_block", "releases")
    return {k: m[k] for k in keys}


def _champion(
    champ: Mapping[str, Any] | None,
    pool: Pool | None,
    scores: Scores,
    cfg: ContestConfig,
) -> dict[str, Any] | None:
    """The champion with its own means on the current pool and how complete its scoring is."""
    if champ is None:
        return None
    out = {k: champ[k] for k in ("uid", "hotkey", "model", "revision", "since_block")}
    out["valid"] = champ["invalid_reason"] is None
    out["invalid_reason"] = champ["invalid_reason"]
    out["cells"] = {
        env.name: _mean_cell(list(scores.get(env.name, {}).values())) for env in cfg.envs
    }
    completeness = {}
    for env in cfg.scoring_envs:
        size = len(pool.task_ids.get(env.name, ())) if pool is not None else 0
        completeness[env.name] = {
            "scored": len(scores.get(env.name, {})),
            "needed": completeness_threshold(size, cfg.completeness),
        }
    out["completeness"] = completeness
    out["complete"] = pool is not None and all(
        c["scored"] >= c["needed"] for c in completeness.values()
    )
    return out


def _mean_cell(values: list[float]) -> Cell | None:
    if not values:
        return None
    return {"mean": math.fsum(values) / len(values), "n": len(values)}


def _rows(
    miners: list[dict[str, Any]],
    standings: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    terminations: list[dict[str, Any]],
    cfg: ContestConfig,
) -> list[dict[str, Any]]:
    positions = {m["hotkey"]: m["position"] for m in standings["queue"]}
    battle = standings["battle"]
    verdicts = {t["hotkey"]: t["verdict"] for t in terminations if t["verdict"] is not None}
    weights = standings["weights"]
    rows = []
    for m in miners:
        hk = m["hotkey"]
        if champion is not None and hk == champion["hotkey"]:
            cells: Mapping[str, Cell | None] = champion["cells"]
        elif battle is not None and hk == battle["hotkey"]:
            cells = _challenger_cells(battle["progress"])
        elif hk in verdicts:
            cells = _challenger_cells(verdicts[hk]["per_env"])
        else:
            cells = {}
        rows.append(
            {
                "uid": m["uid"],
                "hotkey": hk,
                "model": m["model"],
                "revision": m["revision"],
                "first_block": m["first_block"],
                "status": m["status"],
                "valid": m["invalid_reason"] is None,
                "label": status_label(m, positions.get(hk)),
                "reason": m["terminated_reason"] or m["invalid_reason"] or m["blacklisted"],
                "cells": {e.name: cells.get(e.name) for e in cfg.envs},
                "weight": weights.get(str(m["uid"]), 0.0) if m["uid"] is not None else 0.0,
            }
        )
    return sorted(rows, key=_row_order)


def _challenger_cells(per_env: Mapping[str, Mapping[str, Any]]) -> dict[str, Cell | None]:
    out: dict[str, Cell | None] = {}
    for env, p in per_env.items():
        n = int(p.get("common", p.get("n", 0)))
        out[env] = (
            None
            if n == 0
            else {
                "mean": p["challenger_mean"],
                "n": n,
                "lower": p["not_worse_threshold"],
                "upper": p["dominant_threshold"],
            }
        )
    return out


def status_label(m: Mapping[str, Any], position: int | None) -> str:
    """CHAMPION > TERMINATED > invalid reason (short) > BLACKLISTED > BATTLING > QUEUE #k >
    VALID."""
    if m["status"] == "champion":
        return "CHAMPION"
    if m["status"] == "terminated":
        return "TERMINATED"
    if m["invalid_reason"] is not None:
        return str(m["invalid_reason"])[:INVALID_LABEL_CHARS]
    if m.get("blacklisted") is not None:
        return "BLACKLISTED"
    if m["status"] == "battling":
        return "BATTLING"
    if position is not None:
        return f"QUEUE #{position}"
    return "VALID"


def _row_order(row: Mapping[str, Any]) -> tuple[int, int, int]:
    if row["status"] == "champion":
        group = 0
    elif row["valid"] and row["status"] != "terminated":
        group = 1
    else:
        group = 2
    uid = row["uid"] if row["uid"] is not None else -1
    return group, int(row["first_block"]), uid
