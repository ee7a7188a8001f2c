"""Re-scoring: every stored response re-evaluated by its environment, against the recorded score.

Responses live beside the log (content-addressed, in the same database), so this reads a
database, not an export. A response whose bytes are missing is a mismatch: the log promised it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from throne.adapters.storage.database import Database
from throne.adapters.storage.responses import SqlResponseStore
from throne.audit.format import AuditError
from throne.audit.stored import iter_notifications, opened_log, parse_state
from throne.domain.contest.scorecard import Scorecard
from throne.envs.base import Environment
from throne.ports.response_store import ResponseCorrupted, ResponseNotFound

SLACK = 1e-9


@dataclass
class RescoreSummary:
    rescored: int = 0
    skipped_without_response: int = 0


#: Events read between two progress reports.
PROGRESS_EVERY = 500
#: Samples handed to the evaluation threads at a time (results are checked in log order).
_WINDOW = 256


def rescore_database(
    db: Database,
    environments: Mapping[str, Environment],
    *,
    jobs: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> RescoreSummary:
    """Raises `AuditError` ("rescore-mismatch") at the first sample, in log order, whose score
    differs. Evaluations run on ``jobs`` threads (the environments' sandbox serves several
    programs at once); ``progress`` is told (notification id reached, last id in the log)."""
    ro = db.readonly()
    summary = RescoreSummary()

    def samples() -> Iterator[tuple[int, dict[str, Any]]]:
        last = recorder.max_notification_id() or 0  # the log as it stands now
        for i, n in enumerate(iter_notifications(recorder, stop=last), start=1):
            if progress is not None and i % PROGRESS_EVERY == 0:
                progress(n.id, last)
            if n.topic != Scorecard.SampleScored.TOPIC:
                continue
            p = parse_state(n.state)
            if p["outcome"] != "ok":
                continue
            if not p["response_digest"]:
                summary.skipped_without_response += 1
                continue
            yield n.id, p

    def check(sample: tuple[int, dict[str, Any]]) -> AuditError | None:
        id, p = sample
        where = f"SampleScored at id {id} ({p['env']}#{p['task_id']} of {p['hotkey']})"
        env = environments.get(p["env"])
        if env is None:
            return AuditError("rescore-mismatch", f"{where}: environment {p['env']} unknown")
        try:
            body = store.get(p["response_digest"])
        except ResponseNotFound:
            return AuditError(
                "rescore-mismatch", f"{where}: response {p['response_digest']} is missing"
            )
        except ResponseCorrupted:
            return AuditError(
                "rescore-mismatch",
                f"{where}: stored response no longer hashes to {p['response_digest']}",
            )
        got = env.evaluate(env.task(int(p["task_id"])), body.decode("utf-8", "replace"))
        if abs(got.score - float(p["score"])) > SLACK:
            return AuditError(
                "rescore-mismatch",
                f"{where}: recorded score {p['score']}, re-evaluation gives {got.score} "
                f"({got.detail})",
            )
        return None

    with opened_log(ro) as recorder:
        engine = ro.create_engine()
        store = SqlResponseStore(engine, create_table=False)
        try:
            with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="rescore") as pool:
                pending = samples()
                while window := list(islice(pending, _WINDOW)):
                    for problem in pool.map(check, window):
                        if problem is not None:
                            raise problem
                        summary.rescored += 1
        finally:
            engine.dispose()
    return summary
