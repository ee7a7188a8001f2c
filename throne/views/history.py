"""`history`: the reigns, the battles, the terminations and the operator's actions."""

from __future__ import annotations

from typing import Any

from throne.projections.read_side import ReadSide


def history(reads: ReadSide) -> dict[str, Any]:
    with reads.read() as r:
        h = r.history()
    battles = list(h.battles)
    return {
        "netuid": reads.netuid,
        "reigns": list(h.reigns),
        "battles": battles,
        "battles_decided": sum(1 for b in battles if b["result"] in ("dethroned", "terminated")),
        "terminated": list(h.terminations),
        "operator_actions": list(h.operator_actions),
    }
