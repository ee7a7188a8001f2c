"""Re-scoring: every stored response re-evaluated by its environment, against the recorded score.

Responses live beside the log (content-addressed, in the same database), so this reads a
database, not an export. A response whose bytes are missing is a mismatch: the log promised it.
Samples of an env this audit does not have installed (one served elsewhere, such as the
reference's images, or a multi-turn env) are counted and skipped: their conversation is stored
and readable, but only the env's own image can re-run it (docs/envs.md).
"""

from __future__ import annotations

import json
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
    #: samples of envs this audit cannot run (served elsewhere, or multi-turn): their stored
    #: conversation can be read, not re-scored here
    skipped_not_installed: int = 0


def answers_in(body: bytes, prompt: str) -> list[str]:
    """The answers a stored transcript may hold, to re-score: the bytes as they are (what the
    in-process env scored), and, when they are the conversation an env service returned (a JSON
    list of messages whose first is this task's prompt, from the user), its last answer."""
    text = body.decode("utf-8", "replace")
    answers = [text]
    if not text.startswith("["):
        return answers
    try:
        messages = json.loads(text)
    except (ValueError, RecursionError):
        return answers
    if not isinstance(messages, list) or len(messages) < 2:
        return answers
    if not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
        return answers
    first, last = messages[0], messages[-1]
    if (first.get("role"), first["content"]) == ("user", prompt) and last.get("role") == (
        "assistant"
    ):
        answers.append(last["content"])
    return answers


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
            if p["env"] not in environments:
                summary.skipped_not_installed += 1
                continue
            yield n.id, p

    def check(sample: tuple[int, dict[str, Any]]) -> AuditError | None:
        id, p = sample
        where = f"SampleScored at id {id} ({p['env']}#{p['task_id']} of {p['hotkey']})"
        env = environments[p["env"]]
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
        task = env.task(int(p["task_id"]))
        tries = [env.evaluate(task, answer) for answer in answers_in(body, task.prompt)]
        if all(abs(got.score - float(p["score"])) > SLACK for got in tries):
            got = tries[0]
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
