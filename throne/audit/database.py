"""Audits straight from a database: export its log, or verify it in place (never writing)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from throne.adapters.storage.database import Database, StorageError, storage_errors
from throne.adapters.storage.log import APPLICATION_NAME, open_notification_log
from throne.audit.append import AppendError, open_export_for_append
from throne.audit.export import (
    ChainWriter,
    event_line,
    export_notifications,
    iter_notifications,
    open_for_writing,
    parse_state,
    write_notifications,
)
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY, ExportedEvent
from throne.audit.replay import (
    POOL_TOPIC,
    ContestReplay,
    ReplaySummary,
    is_weight_submission,
    replay_mapper,
)
from throne.audit.verify import EventOrder
from throne.ports.signer import Signer


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


@dataclass(frozen=True)
class Appended:
    """What an append added: ``events`` new lines, and the seeds it revealed (by the id of
    their PoolRefreshed); the format version the file now declares."""

    events: int
    revealed: tuple[int, ...]
    version: int
    #: an append that was killed midway was undone first
    restored: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.events or self.revealed)


def append_database(
    db: Database,
    out: Path,
    signer: Signer,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Appended:
    """Append to the export at ``out`` (plain JSON Lines) what the log of ``db`` holds after
    it, continuing its hash chain; raise :class:`AppendError` if it cannot be.

    The export must end with its end record and be signed by ``signer``; its last event must be
    the database's event of that id, as an export would write it. New events are those up to
    the log's last id when the append began (as :func:`export_database` bounds an export), with
    the current pools' seeds withheld. The final checkpoint reveals the seed of each pool the
    export withheld that is current no more. With nothing new and nothing to reveal, the file
    is left as it was.
    """
    ro = db.readonly()
    recorder, factory = open_notification_log(ro)
    try:
        with open_export_for_append(out) as target, storage_errors(ro):
            tail = target.tail
            header = tail.header
            if header.signer != signer.ss58_address:
                raise AppendError(
                    f"{out} is signed by {header.signer}, not by this key "
                    f"({signer.ss58_address}): append with the key that wrote it"
                )
            if header.application != APPLICATION_NAME:
                raise AppendError(f"{out} is an export of {header.application!r}, not of throne")
            old_last = tail.last_id
            last = recorder.max_notification_id() or 0
            withheld = _current_pool_ids(recorder, old_last)
            _check_continues(recorder, out, tail.last_event, old_last, last, withheld)
            still_secret = _current_pool_ids(recorder, last)
            reveals = {
                id: _seed_of(recorder, id) for id in sorted(withheld) if id not in still_secret
            }
            if last == old_last and not reveals:
                return Appended(0, (), header.version, target.restored)
            notifications = iter_notifications(recorder, after=old_last, stop=last)
            if progress is not None:
                notifications = _reporting(notifications, progress, last)
            with target.writing() as f:
                assert header.checkpoint_every is not None  # a sealed header names it
                writer = ChainWriter(
                    f,
                    signer,
                    application=APPLICATION_NAME,
                    checkpoint_every=header.checkpoint_every,
                    resume=tail.end,
                )
                write_notifications(
                    writer,
                    notifications,
                    checkpoint_after=is_weight_submission,
                    redact=seed_redactor(still_secret),
                )
                total = writer.close(reveals)
            return Appended(
                total - tail.end.events, tuple(reveals), header.version, target.restored
            )
    finally:
        factory.close()


def _check_continues(
    recorder: ApplicationRecorder,
    out: Path,
    last_event: bytes | None,
    old_last: int,
    last: int,
    withheld: set[int],
) -> None:
    """The export's last event must be the database's, byte for byte as an export writes it:
    else the export came from another log, and appending to it would make nonsense."""
    if last < old_last:
        raise AppendError(
            f"{out} goes up to id {old_last}, past the end of this log (id {last}): "
            "is it this database's export?"
        )
    if last_event is None:
        return
    found = recorder.select_notifications(old_last, 1, stop=old_last)
    if not found or event_line(found[0], seed_redactor(withheld)) != last_event:
        raise AppendError(
            f"{out}: its last event (id {old_last}) is not this log's: "
            "is it this database's export?"
        )


def _seed_of(recorder: ApplicationRecorder, pool_id: int) -> str:
    found = recorder.select_notifications(pool_id, 1, stop=pool_id, topics=[POOL_TOPIC])
    seed = parse_state(found[0].state).get("seed") if found else None
    if not isinstance(seed, str) or not seed:
        raise AppendError(f"the log holds no seed for the pool drawn at id {pool_id}")
    return seed


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
    assigned afresh. A seed the export reveals after its pool's line goes back into that
    event, as the validator's log holds it. Returns the number of events written.
    """
    from uuid import UUID

    from eventsourcing.persistence import StoredEvent

    from throne.audit.verify import verify_export

    events: list[ExportedEvent] = []
    revealed: dict[int, str] = {}
    verify_export(
        path,
        expected_signer=expected_signer,
        on_event=events.append,
        on_reveal=revealed.__setitem__,
    )
    for i, e in enumerate(events):
        if e.id in revealed and e.topic == POOL_TOPIC:
            events[i] = e._replace(payload={**e.payload, "seed": revealed[e.id]})
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
