"""Load a verified export into an empty database: an auditor's own copy of the log, to query or
to run the application on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from throne.audit.records import ExportedEvent
from throne.audit.replay import POOL_TOPIC
from throne.audit.sources import export_source
from throne.audit.stored import opened_log, to_stored
from throne.audit.verification import check_export

if TYPE_CHECKING:
    from throne.adapters.storage.database import Database

#: Events inserted at a time.
_BATCH = 1000


def load_export(path: Path, db: Database, *, expected_signer: str | None = None) -> int:
    """Verify the export at ``path`` and write its events into the empty log of ``db``.

    Notification ids are assigned afresh. A seed the export reveals after its pool's line goes
    back into that event, as the validator's log holds it. Returns the number of events
    written.
    """
    from throne.adapters.storage.database import StorageError

    events: list[ExportedEvent] = []
    revealed: dict[int, str] = {}
    check_export(
        export_source(path),
        expected_signer=expected_signer,
        on_event=events.append,
        on_reveal=revealed.__setitem__,
    )
    for i, e in enumerate(events):
        if e.id in revealed and e.topic == POOL_TOPIC:
            events[i] = e._replace(payload={**e.payload, "seed": revealed[e.id]})
    with opened_log(db) as recorder:
        if recorder.max_notification_id():
            raise StorageError(f"{db.display} already holds a log: load into an empty one")
        for start in range(0, len(events), _BATCH):
            recorder.insert_events([to_stored(e) for e in events[start : start + _BATCH]])
    return len(events)
