"""Re-scoring: every stored response re-evaluated by its environment, against the recorded score.

Responses live beside the log (content-addressed, in the same database), so this reads a
database, not an export. A response whose bytes are missing is a mismatch: the log promised it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from throne.adapters.storage.database import Database
from throne.adapters.storage.log import open_notification_log
from throne.adapters.storage.responses import (
    ResponseCorrupted,
    ResponseNotFound,
    SqlResponseStore,
)
from throne.audit.export import iter_notifications
from throne.audit.format import AuditError
from throne.domain.contest.scorecard import Scorecard
from throne.envs.base import Environment

SLACK = 1e-9


@dataclass
class RescoreSummary:
    rescored: int = 0
    skipped_without_response: int = 0


def rescore_database(db: Database, environments: Mapping[str, Environment]) -> RescoreSummary:
    """Raises `AuditError` ("rescore-mismatch") at the first sample whose score differs."""
    ro = db.readonly()
    recorder, factory = open_notification_log(ro)
    engine = ro.create_engine()
    store = SqlResponseStore(engine, create_table=False)
    summary = RescoreSummary()
    try:
        for n in iter_notifications(recorder):
            if n.topic != Scorecard.SampleScored.TOPIC:
                continue
            p = json.loads(n.state)
            if p["outcome"] != "ok":
                continue
            if not p["response_digest"]:
                summary.skipped_without_response += 1
                continue
            where = f"SampleScored at id {n.id} ({p['env']}#{p['task_id']} of {p['hotkey']})"
            env = environments.get(p["env"])
            if env is None:
                raise AuditError("rescore-mismatch", f"{where}: environment {p['env']} unknown")
            try:
                body = store.get(p["response_digest"])
            except ResponseNotFound:
                raise AuditError(
                    "rescore-mismatch", f"{where}: response {p['response_digest']} is missing"
                ) from None
            except ResponseCorrupted:
                raise AuditError(
                    "rescore-mismatch",
                    f"{where}: stored response no longer hashes to {p['response_digest']}",
                ) from None
            got = env.evaluate(env.task(int(p["task_id"])), body.decode("utf-8", "replace"))
            if abs(got.score - float(p["score"])) > SLACK:
                raise AuditError(
                    "rescore-mismatch",
                    f"{where}: recorded score {p['score']}, re-evaluation gives {got.score} "
                    f"({got.detail})",
                )
            summary.rescored += 1
    finally:
        factory.close()
        engine.dispose()
    return summary
