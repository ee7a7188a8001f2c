"""What happened, as the demo tells it: the reigns and the battles decided, from the history."""

from __future__ import annotations

from typing import Any

from throne.projections.history import History


def reigns(history: History) -> list[dict[str, Any]]:
    """Who held the crown from which block to which, and how they took it."""
    out = []
    for r in history.reigns:
        taken, ended = r["taken_by"], r["ended_by"]
        dethroned = ended is not None and ended["how"] == "dethroned"
        out.append(
            {
                "hotkey": r["hotkey"],
                "uid": r["uid"],
                "from_block": r["from_block"],
                "until_block": r["to_block"],
                "took_it_by": "cold_start"
                if taken["how"] == "cold_start"
                else taken["verdict"]["reason"],
                "ended_by": ended["by"] if dethroned else None,  # None: abdicated, or reigns
            }
        )
    return out


def battles_decided(history: History) -> int:
    """Battles that ended with a verdict, a release limit, a deadline or an invalidation."""
    return sum(1 for b in history.battles if b["result"] in ("dethroned", "terminated"))
