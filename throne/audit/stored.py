"""The log as the event store holds it: notifications read in pages, and the one conversion
between a stored event and an exported one (either way)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

from throne.audit.format import AuditError
from throne.audit.records import ExportedEvent
from throne.domain.bounded_json import UnreadableJson, read_json

if TYPE_CHECKING:  # an export's verification needs no database driver
    from eventsourcing.persistence import ApplicationRecorder

    from throne.adapters.storage.database import Database

_new_event: Callable[[type[ExportedEvent], tuple[Any, ...]], ExportedEvent] = tuple.__new__
#: Returns the payload as published, given (notification id, topic, payload): e.g. the seed of
#: a pool not yet retired removed.
Redact = Callable[[int, str, dict[str, Any]], dict[str, Any]]
#: Events between two progress reports of an export or a verification from a database.
PROGRESS_EVERY = 5000
#: Notifications read at a time.
PAGE = 2000
#: The largest stored state read by the standard library (what orjson does not read): the
#: application writes every state, and none comes near this.
MAX_STATE_BYTES = 1 << 26


class StoredNotification(Protocol):
    """What the audit needs of an eventsourcing ``Notification``."""

    @property
    def id(self) -> int: ...
    @property
    def originator_id(self) -> Any: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


class NotificationSource(Protocol):
    """An eventsourcing ``ApplicationRecorder`` (only ``select_notifications`` is used)."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Any = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Any: ...


def parse_state(state: bytes) -> Any:
    """A stored state as JSON: orjson where it reads it, else (NaN, integers beyond 64 bits,
    lone surrogates) as the standard library always read it, within bounds."""
    try:
        return orjson.loads(state)
    except orjson.JSONDecodeError:
        return read_json(state, max_bytes=MAX_STATE_BYTES)


def exported(n: StoredNotification, redact: Redact | None = None) -> ExportedEvent:
    """The event of a notification as an export holds it (``redact``-ed if given)."""
    try:
        payload = parse_state(n.state)
    except UnreadableJson as exc:
        raise AuditError("corrupt", f"the stored event at id {n.id} is unreadable: {exc}") from None
    if redact is not None:
        payload = redact(n.id, n.topic, payload)
    # Without the named tuple's argument-parsing constructor: an export makes one per event.
    return _new_event(
        ExportedEvent, (n.id, str(n.originator_id), n.originator_version, n.topic, payload)
    )


def to_stored(event: ExportedEvent) -> StoredEvent:
    """The stored event an exported one was written from (as the application's mapper reads it)."""
    return StoredEvent(
        originator_id=UUID(event.originator),
        originator_version=event.version,
        topic=event.topic,
        state=json.dumps(event.payload).encode(),
    )


def iter_notifications(
    source: NotificationSource, *, stop: int | None = None, after: int = 0
) -> Iterator[Any]:
    """Every notification in order after id ``after`` (up to id ``stop`` if given), by pages
    after the last id seen (ids may have gaps)."""
    last, batch = after, PAGE
    while True:
        page = source.select_notifications(last, batch, stop=stop, inclusive_of_start=False)
        yield from page
        if len(page) < batch:
            return
        last = page[-1].id


def reporting(
    notifications: Iterator[Any], progress: Callable[[int, int], None], last: int | None
) -> Iterator[Any]:
    """The notifications, telling ``progress`` (id reached, ``last``) every so often."""
    for i, n in enumerate(notifications, start=1):
        if i % PROGRESS_EVERY == 0:
            progress(n.id, last or n.id)
        yield n


@contextmanager
def opened_log(db: Database) -> Iterator[ApplicationRecorder]:
    """The log's recorder for as long as the block runs, its failures one-line
    ``StorageError``s (``db.readonly()`` to read only)."""
    from throne.adapters.storage.database import storage_errors
    from throne.adapters.storage.log import open_notification_log

    recorder, factory = open_notification_log(db)
    try:
        with storage_errors(db):
            yield recorder
    finally:
        factory.close()
