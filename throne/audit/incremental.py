"""Verify a published log (:mod:`throne.audit.published`) from where the last verification of
it stopped: ``verify_published(reader, state_path=...) -> PublishedReport``.

It reads the index, compares it with the state file (:mod:`throne.audit.verified_state`): the
parts verified before must be named still, first, in order, with the same sha256, under the
same header. It downloads only the parts after those, checks each one's bytes against the
index (sha256, size), verifies it on its own from the state the part before signed (links,
checkpoint numbers and signatures, the end record; :mod:`throne.audit.parts`), checks that the
index says of it what it holds, and then advances the state.

A first run (no state, or ``full``) downloads every part and also replays the whole contest
through them, as ``throne audit verify FILE`` replays an export: every verdict, weight vector
and retired pool is recomputed, and each originator's versions are followed across parts. An
incremental run cannot replay (the contest's state before the new parts is not kept): it checks
the new parts' links, signatures, order within them, and the index.

Every fault is an :class:`AuditError`. Besides the export's own kinds (:mod:`throne.audit.
format`, with the part named): ``no-index``, ``index-corrupt``, ``part-missing`` (a part the
index names is not there), ``part-mismatch`` (its bytes are not the ones the index names),
``index-mismatch`` (the index says of a part what the part does not hold), and
``index-rewritten`` (the index no longer names the parts verified before, as they were).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from throne.audit.format import AuditError
from throne.audit.order import EventOrder
from throne.audit.parts import CheckedPart, check_part
from throne.audit.published import INDEX_KEY, PartEntry, PublishedIndex
from throne.audit.replay import ContestReplay, ReplaySummary, replay_mapper
from throne.audit.report import AuditReport, ExportSummary
from throne.audit.spans import add_span
from throne.audit.verified_state import VerifiedState
from throne.ports.object_store import ObjectReader


@dataclass(frozen=True)
class PublishedReport:
    """A verification of a published log that passed."""

    where: str
    #: parts the index names
    parts: int
    #: the keys downloaded and verified by this run
    checked: tuple[str, ...]
    #: the parts' summary (by a first run, of all of them; else of the new ones, its counts
    #: going on from those verified before)
    export: ExportSummary | None
    #: the contest replayed over every part (a first run only)
    replay: ReplaySummary | None
    state_path: Path
    signer_pinned: bool = False

    @property
    def audit(self) -> AuditReport | None:
        """The report a verification of the whole log as one export gives (a first run)."""
        if self.replay is None:
            return None
        return AuditReport(self.where, self.export, self.replay, signer_pinned=self.signer_pinned)

    def to_dict(self) -> dict[str, Any]:
        audit = self.audit
        out = audit.to_dict() if audit is not None else {"source": self.where, "ok": True}
        out.update(
            parts=self.parts,
            checked=list(self.checked),
            replayed=audit is not None,
            state=str(self.state_path),
        )
        export = self.export
        if audit is None and export is not None:
            out["chain"] = {
                "events": export.events,
                "signer": export.signer,
                "signer_pinned": self.signer_pinned,
                "head": export.head,
                "complete_to_block": export.block,
            }
        return out


def verify_published(
    reader: ObjectReader,
    *,
    state_path: Path,
    index_key: str = INDEX_KEY,
    expected_signer: str | None = None,
    full: bool = False,
) -> PublishedReport:
    """Verify what was published in ``reader`` since the state at ``state_path`` (all of it
    when there is none, or ``full``), and advance the state; raise :class:`AuditError` at the
    first fault (the state is then left as it was)."""
    where = reader.where
    found = reader.read(index_key)
    if found is None:
        raise AuditError("no-index", f"no index at {where}{index_key}: nothing is published there")
    index = PublishedIndex.parse(found.data)
    if expected_signer is not None and index.signer != expected_signer:
        raise AuditError(
            "wrong-signer", f"the log is signed by {index.signer}, expected {expected_signer}"
        )
    before = None if full else VerifiedState.load(state_path, where)
    if before is not None:
        _check_against(index, before)
    replay = ContestReplay(replay_mapper()) if before is None else None
    order = EventOrder() if replay is not None else None
    opening = None if before is None else before.opening()
    summary: ExportSummary | None = None
    checked: list[str] = []
    for entry in index.parts[0 if before is None else len(before.parts) :]:
        data = _download(reader, entry)
        part = check_part(
            data,
            opening,
            name=f"part {entry.seq} ({entry.key})",
            expected_signer=index.signer,
            on_event=replay,
            on_reveal=None if replay is None else replay.reveal,
            order=order,
        )
        _check_entry(index, entry, part, first=opening is None)
        if summary is None:
            summary = part.summary
        else:
            add_span(summary, part.summary)
        opening = part.closing
        checked.append(entry.key)
    if opening is not None and checked:
        after = VerifiedState(
            where,
            index.header_line,
            tuple(p.sha256 for p in index.parts),
            opening.state,
            opening.block,
        )
        after.save(state_path)
    return PublishedReport(
        where,
        len(index.parts),
        tuple(checked),
        summary,
        None if replay is None else replay.finish(),
        state_path,
        signer_pinned=expected_signer is not None,
    )


def _check_against(index: PublishedIndex, before: VerifiedState) -> None:
    """The index must name the parts verified before, first and as they were."""
    if index.header_line != before.header_line:
        raise AuditError(
            "index-rewritten",
            "the index names another header (signer, interval) than the log verified before",
        )
    if len(index.parts) < len(before.parts):
        raise AuditError(
            "index-rewritten",
            "published parts were removed: parts verified before: "
            f"{len(before.parts)}; parts the index names now: {len(index.parts)}",
        )
    for entry, sha in zip(index.parts, before.parts, strict=False):
        if entry.sha256 != sha:
            raise AuditError(
                "index-rewritten",
                f"part {entry.seq} was verified before with sha256 {sha}, but the index now "
                f"names {entry.sha256}: a published part was replaced, or parts reordered",
            )


def _download(reader: ObjectReader, entry: PartEntry) -> bytes:
    found = reader.read(entry.key)
    if found is None:
        raise AuditError(
            "part-missing",
            f"part {entry.seq} ({entry.key}) is named in the index but missing from {reader.where}",
        )
    data = found.data
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256 or len(data) != entry.size:
        raise AuditError(
            "part-mismatch",
            f"part {entry.seq} ({entry.key}): its {len(data)} bytes hash to {digest}, not to "
            f"the {entry.size} bytes of sha256 {entry.sha256} the index names: the part was "
            "altered",
        )
    return data


def _check_entry(
    index: PublishedIndex, entry: PartEntry, part: CheckedPart, *, first: bool
) -> None:
    """What the index says of the part must be what it holds."""
    closing = part.closing
    said = (entry.events, entry.first_id, entry.last_id, entry.block, entry.checkpoint.dump())
    held = (
        part.events,
        part.first_id if part.events else None,
        closing.state.last_id,
        closing.block,
        part.checkpoint.dump(),
    )
    if said != held:
        raise AuditError(
            "index-mismatch",
            f"part {entry.seq} ({entry.key}): the index says it holds {entry.events} events "
            f"(ids {entry.first_id}..{entry.last_id}, block {entry.block}) ending at head "
            f"{entry.head}, but it holds {part.events} (ids {held[1]}..{held[2]}, block "
            f"{held[3]}) ending at head {closing.state.head.hex()}",
        )
    if first and closing.header_line != index.header_line:
        raise AuditError("index-mismatch", "the index names another header than part 1's")
