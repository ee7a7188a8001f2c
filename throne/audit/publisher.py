"""Publish the log to an object store as immutable parts and one index
(:mod:`throne.audit.published`): ``publish(db, store, signer) -> Published``.

Each run adds only what the log holds after the last part the index names, as parts of at most
``part_ids`` notification ids each. A part is an append (:func:`throne.audit.log_export.
plan_append`): it goes on from the state the previous part's final checkpoint signed, withholds
the seeds of the pools current where it ends, and reveals those the previous part withheld
whose pools have been retired since.

A part is written before the index names it, and the index is written after each part, each
with a conditional write: a crash leaves at most one part the index does not name. The next
run looks for such parts first: one that is exactly the next part (its key's sha256 is its
bytes', it verifies from where the index ends, signed by this key) is adopted, named as it is;
any other is removed. So the index always names parts 1, 2, ..., n, with no gap and none twice.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from throne.audit.append import AppendError
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY, AuditError
from throne.audit.log_export import plan_append, write_append, write_log
from throne.audit.parts import CheckedPart, Opening, check_part
from throne.audit.published import (
    INDEX_KEY,
    PARTS_FOLDER,
    PartEntry,
    PublishedIndex,
    parse_part_key,
    part_key,
)
from throne.audit.records import EndRecord
from throne.audit.stored import NotificationSource, opened_log
from throne.ports.object_store import ObjectStore
from throne.ports.signer import Signer

if TYPE_CHECKING:
    from throne.adapters.storage.database import Database

#: Notification ids a part spans at most: parts of a few megabytes, compressed.
PART_IDS = 50_000


class PublishError(Exception):
    """What is published cannot be gone on from (another key's index, another log's parts, a
    part the index names that is missing or altered). The message is one line."""


@dataclass(frozen=True)
class Published:
    """What a run did: the keys it wrote, adopted (left by a run that stopped before naming
    them) and removed (unnamed parts that were not the next one), and where the log stands."""

    where: str
    parts: int
    written: tuple[str, ...]
    adopted: tuple[str, ...]
    removed: tuple[str, ...]
    events: int
    last_id: int
    block: int | None
    #: whether the store took conditional writes (else it was read before each write)
    conditional: bool

    @property
    def changed(self) -> bool:
        return bool(self.written or self.adopted or self.removed)


def publish(
    db: Database,
    store: ObjectStore,
    signer: Signer,
    *,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    part_ids: int = PART_IDS,
    on_part: Callable[[PartEntry], None] | None = None,
) -> Published:
    """Bring the log published in ``store`` up to the log of ``db`` as it stands now.

    ``checkpoint_every`` is the interval of a log published for the first time (afterwards, its
    header's). Raises :class:`PublishError`, or the store's ``StoreError``."""
    if checkpoint_every < 1 or part_ids < 1:
        raise ValueError("checkpoint_every and part_ids must be at least 1")
    with opened_log(db.readonly()) as recorder:
        last = recorder.max_notification_id() or 0
        run = _Run(store, signer, on_part)
        return run.publish(recorder, last, checkpoint_every, part_ids)


class _Run:
    def __init__(
        self, store: ObjectStore, signer: Signer, on_part: Callable[[PartEntry], None] | None
    ) -> None:
        self.store = store
        self.signer = signer
        self.on_part = on_part
        self.index: PublishedIndex | None = None
        self.etag: str | None = None
        self.opening: Opening | None = None
        self.written: list[str] = []
        self.adopted: list[str] = []
        self.removed: list[str] = []

    def publish(
        self, recorder: NotificationSource, last: int, checkpoint_every: int, part_ids: int
    ) -> Published:
        """Publish the log up to id ``last`` (the log as it stood when the run began)."""
        self._read_index()
        self._settle_unnamed()
        if self.opening is None and self.index is not None and self.index.parts:
            self.opening = self._opening_of(self.index)
        while True:
            after = 0 if self.opening is None else self.opening.state.last_id
            upto = _part_end(recorder, after, last, part_ids)
            data = self._next_part(recorder, upto, checkpoint_every)
            if data is not None:
                self._add(data)
            if upto >= last:
                break
        return self._result()

    # ---- the index and the parts it names ----------------------------------------------------

    def _read_index(self) -> None:
        found = self.store.read(INDEX_KEY)
        if found is None:
            return
        try:
            index = PublishedIndex.parse(found.data)
        except AuditError as exc:
            raise PublishError(f"{self.store.where}{INDEX_KEY}: {exc}") from exc
        if index.signer != self.signer.ss58_address:
            raise PublishError(
                f"the log at {self.store.where} is signed by {index.signer}, not by this key "
                f"({self.signer.ss58_address}): publish with the key that wrote it"
            )
        self.index, self.etag = index, found.etag

    def _opening_of(self, index: PublishedIndex) -> Opening:
        """Where the last part named ends, with the last event line published (read from the
        last part holding one, which is checked on the way)."""
        last = index.parts[-1]
        opening = Opening(index.header, index.header_line, last.checkpoint.state, None, last.block)
        for entry in reversed(index.parts):
            if entry.events:
                checked = self._check_named(index, entry)
                return replace(opening, last_event=checked.closing.last_event)
        return opening

    def _check_named(self, index: PublishedIndex, entry: PartEntry) -> CheckedPart:
        found = self.store.read(entry.key)
        if found is None:
            raise PublishError(
                f"part {entry.seq} ({entry.key}), which the index names, is missing from "
                f"{self.store.where}"
            )
        if hashlib.sha256(found.data).hexdigest() != entry.sha256:
            raise PublishError(f"part {entry.seq} ({entry.key}) is not the one the index names")
        checked = self._check(found.data, _opening_before(index, entry.seq), entry.key)
        if checked.checkpoint.state != entry.checkpoint.state:
            raise PublishError(f"part {entry.seq} ({entry.key}) is not the one the index names")
        return checked

    def _check(self, data: bytes, opening: Opening | None, name: str) -> CheckedPart:
        try:
            return check_part(data, opening, name=name, expected_signer=self.signer.ss58_address)
        except AuditError as exc:
            raise PublishError(f"{self.store.where}{exc}") from exc

    # ---- parts no index names ------------------------------------------------------------

    def _settle_unnamed(self) -> None:
        """Adopt the part a stopped run left unnamed, if it is exactly the next one; remove
        every other part the index does not name."""
        named = set() if self.index is None else {p.key for p in self.index.parts}
        unnamed = [k for k in self.store.keys(PARTS_FOLDER) if k not in named]
        unnamed.sort(key=lambda k: (parse_part_key(k) or (0, ""))[0])
        for key in unnamed:
            if not self._adopt(key):
                self.store.delete(key)
                self.removed.append(key)

    def _adopt(self, key: str) -> bool:
        parsed = parse_part_key(key)
        count = 0 if self.index is None else len(self.index.parts)
        if parsed is None or parsed[0] != count + 1:
            return False
        found = self.store.read(key)
        if found is None or hashlib.sha256(found.data).hexdigest() != parsed[1]:
            return False
        if self.index is not None and self.opening is None:
            self.opening = self._opening_of(self.index) if self.index.parts else None
        try:
            checked = check_part(
                found.data, self.opening, name=key, expected_signer=self.signer.ss58_address
            )
        except AuditError:
            return False
        self._name(found.data, checked)
        self.adopted.append(key)
        return True

    # ---- new parts -----------------------------------------------------------------------

    def _next_part(
        self, recorder: NotificationSource, upto: int, checkpoint_every: int
    ) -> bytes | None:
        """The next part's plain bytes, the log up to id ``upto``; None if it would add
        nothing."""
        out = io.BytesIO()
        opening = self.opening
        if opening is None:
            write_log(recorder, out, self.signer, last=upto, checkpoint_every=checkpoint_every)
            return out.getvalue()
        s = opening.state
        end = EndRecord(s.events, s.head, s.last_id, s.checkpoints, opening.block)
        try:
            plan = plan_append(
                recorder,
                opening.header,
                end,
                opening.last_event,
                self.signer,
                name=self.store.where,
                last=upto,
            )
        except AppendError as exc:
            raise PublishError(str(exc)) from exc
        if plan.empty:
            return None
        write_append(recorder, out, self.signer, plan)
        return out.getvalue()

    def _add(self, plain: bytes) -> None:
        data = gzip.compress(plain, compresslevel=6, mtime=0)
        count = 0 if self.index is None else len(self.index.parts)
        key = part_key(count + 1, hashlib.sha256(data).hexdigest())
        checked = self._check(data, self.opening, key)
        # Written before the index names it: a run stopped in between leaves it unnamed.
        self.store.create(key, data)
        self._name(data, checked)
        self.written.append(key)

    def _name(self, data: bytes, checked: CheckedPart) -> None:
        """Name the part in the index (conditional on the index being the one read)."""
        closing = checked.closing
        index = self.index or PublishedIndex(closing.header, closing.header_line)
        entry = PartEntry(
            seq=len(index.parts) + 1,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            events=checked.events,
            first_id=checked.first_id if checked.events else None,
            last_id=closing.state.last_id,
            checkpoint=checked.checkpoint,
            block=closing.block,
        )
        index = index.with_part(entry)
        self.etag = self.store.replace(INDEX_KEY, index.dump(), expected=self.etag)
        self.index, self.opening = index, closing
        if self.on_part is not None:
            self.on_part(entry)

    def _result(self) -> Published:
        index = self.index
        state = None if self.opening is None else self.opening.state
        return Published(
            where=self.store.where,
            parts=0 if index is None else len(index.parts),
            written=tuple(self.written),
            adopted=tuple(self.adopted),
            removed=tuple(self.removed),
            events=0 if state is None else state.events,
            last_id=0 if state is None else state.last_id,
            block=None if self.opening is None else self.opening.block,
            conditional=self.store.conditional,
        )


def _opening_before(index: PublishedIndex, seq: int) -> Opening | None:
    """Where part ``seq`` opens, as the index says (None for part 1)."""
    if seq == 1:
        return None
    before = index.parts[seq - 2]
    return Opening(index.header, index.header_line, before.checkpoint.state, None, before.block)


def _part_end(recorder: NotificationSource, after: int, last: int, part_ids: int) -> int:
    """The last id of the next part: ``part_ids`` ids on from ``after``, or further while that
    span holds no event (PostgreSQL leaves gaps), never past ``last``."""
    upto = min(last, after + part_ids)
    while upto < last and not recorder.select_notifications(
        after, 1, stop=upto, inclusive_of_start=False
    ):
        upto = min(last, upto + part_ids)
    return upto
