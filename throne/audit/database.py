"""Audits straight from a database: export its log, or verify it in place (never writing)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from throne.adapters.storage.database import Database, StorageError, storage_errors
from throne.adapters.storage.log import APPLICATION_NAME, open_notification_log
from throne.audit.export import (
    export_notifications,
    iter_notifications,
    open_for_writing,
    parse_state,
)
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY, ExportedEvent
from throne.audit.replay import (
    POOL_TOPIC,
    ContestReplay,
    ReplaySummary,
    is_weight_submission,
    replay_mapper,
)
from throne.audit.signing import Signer
from throne.audit.verify import EventOrder


def _current_pool_ids(recorder: ApplicationRecorder, upto: int) -> set[int]:
    """Notification ids of each contest's latest ``PoolRefreshed`` up to id ``upto``: the
    seeds still secret in a log that ends there."""
    latest: dict[str, int] = {}
    last = 0
    while True:
        page = recorder.select_notifications(
            last, 1000, stop=upto, topics=[POOL_TOPIC], inclusive_of_start=False
        )
        for n in page:
            latest[str(n.originator_id)] = n.id
        if len(page) < 1000:
            return set(latest.values())
        last = page[-1].id


def seed_redactor(secret_ids: set[int]) -> Callable[[int, str, dict[str, Any]], dict[str, Any]]:
    def redact(id: int, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        if id in secret_ids and topic == POOL_TOPIC:
            return {**payload, "seed": None}
        return payload

    return redact


def export_database(
    db: Database,
    out: Path,
    signer: Signer,
    *,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the whole log of ``db`` to ``out`` (``.gz`` compresses); return the event count.

    ``progress``, if given, is told now and then (notification id written, last id in the log).

    The seed of each contest's current pool is left out (``null``) until the pool is retired.
    The export is the log as it stood when the export began: events appended meanwhile (a
    daemon keeps writing) are left for the next one, so a pool drawn meanwhile can never be
    written out with its seed, as the first pool of a log that ends before it.
    """
    ro = db.readonly()
    recorder, factory = open_notification_log(ro)
    try:
        with storage_errors(ro):
            last = recorder.max_notification_id() or 0
            redact = seed_redactor(_current_pool_ids(recorder, last))
            tmp = out.with_name(out.name + ".partial")
            notifications = iter_notifications(recorder, stop=last)
            if progress is not None:
                notifications = _reporting(notifications, progress, last)
            with open_for_writing(tmp, compress=out.name.endswith(".gz")) as f:
                count = export_notifications(
                    notifications,
                    f,
                    signer,
                    application=APPLICATION_NAME,
                    checkpoint_every=checkpoint_every,
                    checkpoint_after=is_weight_submission,
                    redact=redact,
                )
            tmp.replace(out)
            return count
    finally:
        factory.close()


#: Events between two progress reports of an export or a verification from a database.
PROGRESS_EVERY = 5000


def _reporting(
    notifications: Iterator[Any], progress: Callable[[int, int], None], last: int | None
) -> Iterator[Any]:
    for i, n in enumerate(notifications, start=1):
        if i % PROGRESS_EVERY == 0:
            progress(n.id, last or n.id)
        yield n


def verify_database(
    db: Database, progress: Callable[[int, int], None] | None = None
) -> tuple[int, ReplaySummary]:
    """Replay the log of ``db`` from scratch and recompute every verdict, weight and pool.

    Opens the database read-only. A database holds no signed checkpoints: export it to check a
    hash chain. Returns (events read, replay summary); raises ``AuditError`` at a mismatch.
    ``progress`` is told now and then (notification id read, last id in the log).
    """
    ro = db.readonly()
    recorder, factory = open_notification_log(ro)
    replay = ContestReplay(replay_mapper())
    order = EventOrder()
    count = 0
    try:
        with storage_errors(ro):
            # The log as it stands now: a daemon may keep appending while it is read.
            last = recorder.max_notification_id() or 0
            notifications = iter_notifications(recorder, stop=last)
            if progress is not None:
                notifications = _reporting(notifications, progress, last)
            for n in notifications:
                event = ExportedEvent(
                    id=n.id,
                    originator=str(n.originator_id),
                    version=n.originator_version,
                    topic=n.topic,
                    payload=parse_state(n.state),
                )
                order.check(event)
                replay(event)
                count += 1
        return count, replay.finish()
    finally:
        factory.close()


def load_export(path: Path, db: Database, *, expected_signer: str | None = None) -> int:
    """Verify the export at ``path`` and write its events into the empty log of ``db``.

    An auditor gets a database to query or to run the application on; notification ids are
    assigned afresh. Returns the number of events written.
    """
    from uuid import UUID

    from eventsourcing.persistence import StoredEvent

    from throne.audit.verify import verify_export

    events: list[ExportedEvent] = []
    verify_export(path, expected_signer=expected_signer, on_event=events.append)
    recorder, factory = open_notification_log(db)
    try:
        with storage_errors(db):
            if recorder.max_notification_id():
                raise StorageError(f"{db.display} already holds a log: load into an empty one")
            batch = 1000
            for start in range(0, len(events), batch):
                recorder.insert_events(
                    [
                        StoredEvent(
                            originator_id=UUID(e.originator),
                            originator_version=e.version,
                            topic=e.topic,
                            state=json.dumps(e.payload).encode(),
                        )
                        for e in events[start : start + batch]
                    ]
                )
        return len(events)
    finally:
        factory.close()
