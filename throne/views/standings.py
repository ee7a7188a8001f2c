"""`standings`: the champion, the battle with its per-env progress, the queue, the terminated
miners and the weights — the parts `rank`, `miner`, `weights` and the demo's view share."""

from __future__ import annotations

from typing import Any

from throne.domain.queue.miners import Status
from throne.projections.standings import Standings


def standings(s: Standings) -> dict[str, Any]:
    pool = s.pool
    out: dict[str, Any] = {
        "contest_version": s.version,
        "champion": None,
        "battle": None,
        "pool": None
        if pool is None
        else {"pool": pool.pool, "block": pool.block, "seed_commitment": pool.seed_commitment},
        "queue": [{"position": i + 1, **m.to_dict()} for i, m in enumerate(s.queue())],
        "terminated": [m.to_dict() for m in s.miners if m.status is Status.TERMINATED],
        "weights": {str(k): v for k, v in s.weights().items()},
        "operations": {
            "paused_since_block": s.operations.paused_at,
            "burn": s.operations.burn_in_force(s.config.burn if s.config is not None else 0.0),
            "burn_set_by_operator": s.operations.burn is not None,
            "pool_rotation_ordered": s.operations.rotation_ordered,
        },
    }
    champion, challenger = s.champion_record(), s.challenger_record()
    if champion is not None and s.champion is not None:
        out["champion"] = {**champion.to_dict(), "since_block": s.champion.since}
    if challenger is not None and s.battle is not None and pool is not None:
        out["battle"] = {
            **challenger.to_dict(),
            "started_block": s.battle.started,
            "deadline_block": s.battle.deadline,
            "progress": {env: p.to_dict() for env, p in s.progress().items()},
            **_evidence(s),
        }
    return out


def _evidence(s: Standings) -> dict[str, Any]:
    """The rule deciding the battle and, for a rule that weighs evidence, where it stands:
    its statistic and bounds at the last look reached (task ids never appear)."""
    judged = s.judgement()
    if judged is None or s.config is None:
        return {}
    verdict = judged.verdict
    return {
        "rule": s.config.rule,
        "evidence": None if verdict.evidence is None else dict(verdict.evidence),
    }
