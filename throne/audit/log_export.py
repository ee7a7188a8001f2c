"""Export a database's log: whole, to a new file, or appended to an export published before.

Either way the seed of each contest's current pool is withheld (``null``) until the pool is
retired, and the log is taken as it stood when the export began: events appended meanwhile (a
daemon keeps writing) are left for the next one, so a pool drawn meanwhile can never be written
out with its seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from throne.adapters.storage.log import APPLICATION_NAME
from throne.audit.append import AppendError, open_export_for_append
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY
from throne.audit.records import EndRecord, Header
from throne.audit.replay import POOL_TOPIC, is_weight_submission
from throne.audit.stored import (
    NotificationSource,
    exported,
    iter_notifications,
    opened_log,
    parse_state,
    reporting,
)
from throne.audit.writer import (
    ExportWriter,
    export_notifications,
    open_for_writing,
    write_notifications,
)
from throne.ports.signer import Signer

if TYPE_CHECKING:
    from throne.adapters.storage.database import Database

#: (notification id reached, last id in the log), now and then.
Progress = Callable[[int, int], None]


def _current_pool_ids(recorder: NotificationSource, upto: int) -> set[int]:
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
    progress: Progress | None = None,
) -> int:
    """Write the whole log of ``db`` to ``out`` (``.gz`` compresses); return the event count."""
    with opened_log(db.readonly()) as recorder:
        last = recorder.max_notification_id() or 0
        tmp = out.with_name(out.name + ".partial")
        with open_for_writing(tmp, compress=out.name.endswith(".gz")) as f:
            count = write_log(
                recorder, f, signer, last=last, checkpoint_every=checkpoint_every, progress=progress
            )
        tmp.replace(out)
        return count


def write_log(
    recorder: NotificationSource,
    out: IO[bytes],
    signer: Signer,
    *,
    last: int,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    progress: Progress | None = None,
) -> int:
    """Write the log up to id ``last`` as a new export to ``out``, the seeds of the pools
    current at ``last`` withheld; return the event count."""
    redact = seed_redactor(_current_pool_ids(recorder, last))
    notifications = iter_notifications(recorder, stop=last)
    if progress is not None:
        notifications = reporting(notifications, progress, last)
    return export_notifications(
        notifications,
        out,
        signer,
        application=APPLICATION_NAME,
        checkpoint_every=checkpoint_every,
        checkpoint_after=is_weight_submission,
        redact=redact,
    )


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
    db: Database, out: Path, signer: Signer, *, progress: Progress | None = None
) -> Appended:
    """Append to the export at ``out`` (plain JSON Lines) what the log of ``db`` holds after
    it, continuing its links; raise :class:`AppendError` if it cannot be.

    The export must end with its end record and be signed by ``signer``; its last event must be
    the database's event of that id, as an export would write it. New events are those up to
    the log's last id when the append began (as :func:`export_database` bounds an export), with
    the current pools' seeds withheld. The final checkpoint reveals the seed of each pool the
    export withheld that is current no more. With nothing new and nothing to reveal, the file
    is left as it was.
    """
    with opened_log(db.readonly()) as recorder, open_export_for_append(out) as target:
        tail = target.tail
        last = recorder.max_notification_id() or 0
        plan = plan_append(
            recorder, tail.header, tail.end, tail.last_event, signer, name=str(out), last=last
        )
        if plan.empty:
            return Appended(0, (), tail.header.version, target.restored)
        with target.writing() as f:
            total = write_append(recorder, f, signer, plan, progress=progress)
        return Appended(
            total - tail.end.events, tuple(plan.reveals), tail.header.version, target.restored
        )


@dataclass(frozen=True)
class AppendPlan:
    """What an append to an export that ends with ``end`` writes: the log's events after it
    up to id ``last``, the seeds of the pools current at ``last`` withheld, and the final
    checkpoint's ``reveals`` (the seeds the export withheld of pools retired since)."""

    header: Header
    end: EndRecord
    last: int
    still_secret: frozenset[int]
    reveals: dict[int, str]

    @property
    def empty(self) -> bool:
        """Nothing new and nothing to reveal: the export stays as it is."""
        return self.last == self.end.last_id and not self.reveals


def plan_append(
    recorder: NotificationSource,
    header: Header,
    end: EndRecord,
    last_event: bytes | None,
    signer: Signer,
    *,
    name: str,
    last: int,
) -> AppendPlan:
    """The append of the log up to id ``last`` to the export ``name`` (its header, signed end
    record and last event line); :class:`AppendError` if the export is another key's, another
    application's, or not this log's."""
    if header.signer != signer.ss58_address:
        raise AppendError(
            f"{name} is signed by {header.signer}, not by this key "
            f"({signer.ss58_address}): append with the key that wrote it"
        )
    if header.application != APPLICATION_NAME:
        raise AppendError(f"{name} is an export of {header.application!r}, not of throne")
    assert end.last_id is not None  # a signed end record names it
    old_last = end.last_id
    withheld = _current_pool_ids(recorder, old_last)
    _check_continues(recorder, name, last_event, old_last, last, withheld)
    still_secret = _current_pool_ids(recorder, last)
    reveals = {id: _seed_of(recorder, id) for id in sorted(withheld) if id not in still_secret}
    return AppendPlan(header, end, last, frozenset(still_secret), reveals)


def write_append(
    recorder: NotificationSource,
    out: IO[bytes],
    signer: Signer,
    plan: AppendPlan,
    *,
    progress: Progress | None = None,
) -> int:
    """Write what ``plan`` appends to ``out`` (from where the export's end record stood),
    ending with a new signed end record; return the export's event count."""
    assert plan.end.last_id is not None  # a signed end record names it
    notifications = iter_notifications(recorder, after=plan.end.last_id, stop=plan.last)
    if progress is not None:
        notifications = reporting(notifications, progress, plan.last)
    assert plan.header.checkpoint_every is not None  # a sealed header names it
    writer = ExportWriter(
        out,
        signer,
        application=APPLICATION_NAME,
        checkpoint_every=plan.header.checkpoint_every,
        resume=plan.end,
    )
    write_notifications(
        writer,
        notifications,
        checkpoint_after=is_weight_submission,
        redact=seed_redactor(set(plan.still_secret)),
    )
    return writer.close(plan.reveals)


def _check_continues(
    recorder: NotificationSource,
    out: str,
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
    if not found or exported(found[0], seed_redactor(withheld)).dump() != last_event:
        raise AppendError(
            f"{out}: its last event (id {old_last}) is not this log's: "
            "is it this database's export?"
        )


def _seed_of(recorder: NotificationSource, pool_id: int) -> str:
    found = recorder.select_notifications(pool_id, 1, stop=pool_id, topics=[POOL_TOPIC])
    seed = parse_state(found[0].state).get("seed") if found else None
    if not isinstance(seed, str) or not seed:
        raise AppendError(f"the log holds no seed for the pool drawn at id {pool_id}")
    return seed
