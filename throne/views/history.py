"""`history`: the reigns, the battles and the terminations, folded from the contest's events."""

from __future__ import annotations

from typing import Any

from throne.application import ThroneApplication
from throne.views.contest_log import timeline_events
from throne.views.timeline import fold_battles, fold_reigns, fold_terminations


def history(app: ThroneApplication) -> dict[str, Any]:
    events = timeline_events(app)
    battles = fold_battles(events)
    return {
        "netuid": app.config.netuid,
        "reigns": fold_reigns(events),
        "battles": battles,
        "battles_decided": sum(1 for b in battles if b["result"] in ("dethroned", "terminated")),
        "terminated": fold_terminations(events),
    }
