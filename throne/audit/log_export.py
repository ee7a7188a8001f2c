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
from typing import TYPE_CHECKING, Any

from throne.adapters.storage.log import APPLICATION_NAME
from throne.audit.append import AppendError, open_export_for_append
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY
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
        redact = seed_redactor(_current_pool_ids(recorder, last))
        tmp = out.with_name(out.name + ".partial")
        notifications = iter_notifications(recorder, stop=last)
        if progress is not None:
            notifications = reporting(notifications, progress, last)
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
        reveals = {id: _seed_of(recorder, id) for id in sorted(withheld) if id not in still_secret}
        if last == old_last and not reveals:
            return Appended(0, (), header.version, target.restored)
        notifications = iter_notifications(recorder, after=old_last, stop=last)
        if progress is not None:
            notifications = reporting(notifications, progress, last)
        with target.writing() as f:
            assert header.checkpoint_every is not None  # a sealed header names it
            writer = ExportWriter(
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
        return Appended(total - tail.end.events, tuple(reveals), header.version, target.restored)


def _check_continues(
    recorder: NotificationSource,
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
