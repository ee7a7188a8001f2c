"""`weights`: the vector the contest gives now, and the last submission recorded in the log."""

from __future__ import annotations

from typing import Any

from throne.application import ThroneApplication
from throne.domain.contest.ledger import WeightLedger
from throne.views.contest_log import recorded_config


def weights(app: ThroneApplication) -> dict[str, Any]:
    version, vector = app.weights()
    champion = app.standings()["champion"]
    return {
        "netuid": app.config.netuid,
        "contest_version": version,
        "burn": recorded_config(app).burn,
        "champion": None
        if champion is None
        else {k: champion[k] for k in ("hotkey", "uid", "revision", "since_block")},
        "weights": {str(uid): w for uid, w in sorted(vector.items())},
        "last_submission": last_submission(app),
    }


def last_submission(app: ThroneApplication) -> dict[str, Any] | None:
    """The newest `WeightsSet` of the ledger, whether the chain accepted it or not."""
    for event in app.events.get(app.ledger_id, desc=True):
        if isinstance(event, WeightLedger.WeightsSet):
            return {
                "block": event.block,
                "ok": event.ok,
                "weights": dict(event.weights),
                "u16": [list(p) for p in event.u16],
                "extrinsic": event.extrinsic,
                "error": event.error,
                "contest_version": event.contest_version,
            }
    return None
