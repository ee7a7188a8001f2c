"""Check an audit export: its structure, its hash chain and its checkpoint signatures.

The chain check is generic over the log; what the events mean (verdicts, weights) is checked by
a consumer that receives every :class:`ExportedEvent` in order (see ``on_event``), and the seeds
that checkpoints reveal (see ``on_reveal``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

from throne.audit.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    GENESIS_HEAD,
    REVEALS_FORMAT_VERSION,
    AuditError,
    ExportedEvent,
    checkpoint_message,
)
from throne.audit.reading import (
    STDIN,
    Progress,
    damage_reported,
    open_measured,
    read_lines,
)
from throne.audit.signing import signature_is_valid

# orjson parses a line about four times faster than the standard library: it is most of the cost
# of a verification. It reads the same JSON (and refuses NaN, which canonical lines never hold).
_decode = orjson.loads
# Below every notification id, so the first event's id is accepted whatever it is.
_BEFORE_ANY_ID = -(1 << 63)
NEWLINE = ord("\n")
# Builds the named tuple without its argument-parsing constructor: twice as fast, and a
# verification builds one per event.
new_event: Callable[[type[ExportedEvent], tuple[Any, ...]], ExportedEvent] = tuple.__new__


#: Takes (notification id of a ``PoolRefreshed`` written without its seed, the seed in hex).
OnReveal = Callable[[int, str], None]


@dataclass
class ChainSummary:
    application: str = ""
    signer: str = ""
    format_version: int = 0
    events: int = 0
    checkpoints: int = 0
    first_id: int | None = None
    last_id: int | None = None
    head: str = ""
    topics: dict[str, int] = field(default_factory=dict)


class EventOrder:
    """Notification ids strictly increase; each originator's versions run 1, 2, 3, ..."""

    def __init__(self) -> None:
        self.last_id: int | None = None
        self.versions: dict[str, int] = {}

    def check(self, event: ExportedEvent, *, line: int | None = None) -> None:
        versions = self.versions
        previous = versions.get(event.originator, 0)
        if event.version == previous + 1 and (self.last_id is None or event.id > self.last_id):
            versions[event.originator] = event.version
            self.last_id = event.id
            return
        self._explain(event, previous, line)

    def _explain(self, event: ExportedEvent, previous: int, line: int | None) -> None:
        if self.last_id is not None and event.id <= self.last_id:
            what = "repeats" if event.id == self.last_id else "comes after"
            raise AuditError(
                "reordered",
                f"events out of order: notification id {event.id} {what} {self.last_id}",
                line=line,
            )
        if event.version > previous + 1:
            missing = (
                f"version {previous + 1}"
                if event.version == previous + 2
                else f"versions {previous + 1}..{event.version - 1}"
            )
            raise AuditError(
                "deleted",
                f"event deleted: {missing} of {event.originator} missing before id {event.id}",
                line=line,
            )
        if event.version <= previous:
            raise AuditError(
                "inserted",
                f"event inserted: {event.originator} version {event.version} appears again "
                f"at id {event.id}",
                line=line,
            )
        raise AssertionError("unreachable: the fast path accepts every other event")


class ChainVerifier:
    """Feed it the lines of an export in order; it raises :class:`AuditError` at the first fault.

    ``expected_signer`` (an ss58 address) pins whose signatures count; without it the header's
    signer is taken at its word and reported. ``on_reveal`` is handed each seed a checkpoint
    reveals, once the checkpoint itself has checked out; whether the seed is the right one is
    for the consumer to say (see :class:`throne.audit.replay.ContestReplay`).
    """

    def __init__(
        self,
        *,
        expected_signer: str | None = None,
        on_event: Callable[[ExportedEvent], None] | None = None,
        on_reveal: OnReveal | None = None,
        order: EventOrder | None = None,
    ) -> None:
        self.summary = ChainSummary()
        self.lines_read = 0
        self._expected_signer = expected_signer
        self._on_event = on_event
        self._on_reveal = on_reveal
        self._head = GENESIS_HEAD
        self._header_seen = False
        self._ended = False
        self._since_checkpoint = 0
        self._last_checkpoint_line = 0
        self._last_checkpoint_id = 0
        self._order = EventOrder() if order is None else order

    @classmethod
    def resume(
        cls,
        *,
        signer: str,
        format_version: int,
        events: int,
        head: bytes,
        last_id: int,
        on_event: Callable[[ExportedEvent], None] | None = None,
        on_reveal: OnReveal | None = None,
        order: EventOrder | None = None,
    ) -> ChainVerifier:
        """A verifier that starts right after a checkpoint, in the state the checkpoint signed
        (``events`` so far, the running ``head``, the ``last_id``), for an export by ``signer``
        whose header declares ``format_version``.

        It trusts that state: whoever verified the lines before it must have found the same."""
        verifier = cls(on_event=on_event, on_reveal=on_reveal, order=order)
        verifier.summary.signer = signer
        verifier.summary.format_version = format_version
        verifier.summary.events = events
        verifier._head = head
        verifier._header_seen = True
        verifier._order.last_id = last_id
        verifier.summary.last_id = last_id
        verifier._last_checkpoint_id = last_id
        return verifier

    @property
    def versions(self) -> dict[str, int]:
        """The last version read of each originator."""
        return self._order.versions

    @property
    def at_checkpoint(self) -> bool:
        """Whether every event read so far is covered by a checkpoint already read."""
        return self._header_seen and self._since_checkpoint == 0

    def run(self, raw_lines: Iterable[bytes]) -> ChainSummary:
        """Verify raw lines, each ending in a newline, in order; then :meth:`finish`."""
        self.check(raw_lines)
        return self.finish()

    def check(self, raw_lines: Iterable[bytes]) -> None:
        """Verify raw lines, each ending in a newline, in order, but not that the export ends.

        The hot loop of a verification: events (all but a few lines) are checked here with
        their state in locals; the rare records and every fault go through :meth:`feed`."""
        loads = _decode
        on_event = self._on_event
        order = self._order
        versions = order.versions
        versions_get = versions.get
        summary = self.summary
        topics = summary.topics
        topics_get = topics.get
        number = self.lines_read
        head = self._head
        last_id = _BEFORE_ANY_ID if order.last_id is None else order.last_id
        since = self._since_checkpoint
        counted = summary.events
        in_body = self._header_seen and not self._ended
        try:
            for raw in raw_lines:
                number += 1
                if raw[-1] != NEWLINE:
                    raise AuditError(
                        "truncated", "export ends in the middle of a line", line=number
                    )
                line = raw[:-1]
                try:
                    record = loads(line)
                    event_id = record["id"]
                    originator = record["originator"]
                    version = record["version"]
                    topic = record["topic"]
                    payload = record["payload"]
                except (ValueError, TypeError, KeyError):
                    record = None
                if (
                    record is None
                    or not in_body
                    or type(event_id) is not int
                    or type(version) is not int
                    or type(originator) is not str
                    or type(topic) is not str
                    or event_id <= last_id
                    or version != versions_get(originator, 0) + 1
                ):
                    # Anything but an event in order: a header, checkpoint or end record, or
                    # a fault, which the slow path names.
                    order.last_id = None if last_id == _BEFORE_ANY_ID else last_id
                    self._head, self._since_checkpoint = head, since
                    summary.events = counted
                    summary.last_id = order.last_id
                    self.feed(number, line)
                    head, since, counted = self._head, self._since_checkpoint, summary.events
                    last_id = _BEFORE_ANY_ID if order.last_id is None else order.last_id
                    in_body = self._header_seen and not self._ended
                    continue
                versions[originator] = version
                last_id = event_id
                head = sha256(head + line).digest()
                since += 1
                counted += 1
                if summary.first_id is None:
                    summary.first_id = event_id
                topics[topic] = topics_get(topic, 0) + 1
                if on_event is not None:
                    event = (event_id, originator, version, topic, payload)
                    on_event(new_event(ExportedEvent, event))
        finally:
            self.lines_read = number
            order.last_id = None if last_id == _BEFORE_ANY_ID else last_id
            self._head, self._since_checkpoint = head, since
            summary.events = counted
            summary.last_id = order.last_id

    def feed(self, number: int, line: bytes) -> None:
        """Check one line (without its newline): the slow path, for any record."""
        self.lines_read = number
        if self._ended:
            raise AuditError("corrupt", "data after the end record", line=number)
        try:
            record = _decode(line)
        except ValueError as exc:
            raise AuditError("corrupt", f"not a JSON record ({exc})", line=number) from exc
        if not isinstance(record, dict):
            raise AuditError("corrupt", "not a JSON object", line=number)
        if not self._header_seen:
            self._header(number, record)
        elif "id" in record:
            self._event(number, line, record)
        elif "checkpoint" in record:
            self._checkpoint(number, record["checkpoint"])
        elif "end" in record:
            self._end(number, record["end"])
        else:
            raise AuditError("corrupt", f"unknown record with keys {sorted(record)}", line=number)

    def finish(self) -> ChainSummary:
        if not self._header_seen:
            raise AuditError("not-an-export", "empty file: no audit header")
        if not self._ended:
            raise AuditError(
                "truncated",
                f"no end record: the export stops after {self.summary.events} events",
            )
        return self.summary

    def _header(self, number: int, record: dict[str, Any]) -> None:
        if record.get("format") != FORMAT_NAME:
            raise AuditError("not-an-export", "not a throne audit export (no header)", line=number)
        version = record.get("version")
        if not isinstance(version, int) or version < 1:
            raise AuditError("corrupt", f"bad format version {version!r}", line=number)
        if version > FORMAT_VERSION:
            raise AuditError(
                "newer-format",
                f"written by a newer throne (format version {version}; "
                f"this one reads up to {FORMAT_VERSION}): upgrade throne",
                line=number,
            )
        signer = record.get("signer")
        if not isinstance(signer, str):
            raise AuditError("corrupt", "header names no signer", line=number)
        if self._expected_signer is not None and signer != self._expected_signer:
            raise AuditError(
                "wrong-signer",
                f"export is signed by {signer}, expected {self._expected_signer}",
                line=number,
            )
        self.summary.application = str(record.get("application", ""))
        self.summary.signer = signer
        self.summary.format_version = version
        self._header_seen = True

    def _event(self, number: int, line: bytes, record: dict[str, Any]) -> None:
        # The hot path of a verification: kept flat on purpose.
        try:
            event = ExportedEvent(
                record["id"],
                record["originator"],
                record["version"],
                record["topic"],
                record["payload"],
            )
        except KeyError as exc:
            raise AuditError("corrupt", f"event record lacks {exc}", line=number) from None
        if type(event.id) is not int or type(event.version) is not int:
            raise AuditError("corrupt", "event id and version must be integers", line=number)
        self._order.check(event, line=number)
        self._head = sha256(self._head + line).digest()
        self._since_checkpoint += 1
        s = self.summary
        if s.first_id is None:
            s.first_id = event.id
        s.last_id = event.id
        s.events += 1
        topics = s.topics
        topics[event.topic] = topics.get(event.topic, 0) + 1
        if self._on_event is not None:
            self._on_event(event)

    def _checkpoint(self, number: int, cp: Any) -> None:
        try:
            events, head, last_id = int(cp["events"]), str(cp["head"]), int(cp["id"])
            signature, signer = bytes.fromhex(cp["signature"]), str(cp["signer"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError("corrupt", f"malformed checkpoint ({exc})", line=number) from None
        s = self.summary
        if signer != s.signer:
            raise AuditError(
                "wrong-signer",
                f"checkpoint signed by {signer}, but the export names {s.signer}",
                line=number,
            )
        if not signature_is_valid(checkpoint_message(events, last_id, head), signature, signer):
            raise AuditError(
                "bad-signature",
                f"checkpoint signature does not verify for {signer} (checkpoint altered)",
                line=number,
            )
        since = (
            f"since the checkpoint at line {self._last_checkpoint_line}"
            if self._last_checkpoint_line
            else "from the start"
        )
        if events != s.events:
            kind = "deleted" if events > s.events else "inserted"
            raise AuditError(
                kind,
                f"checkpoint covers {events} events but {s.events} precede it: "
                f"events {kind} {since}",
                line=number,
            )
        if head != self._head.hex():
            raise AuditError(
                "altered",
                f"hash chain broken: an event {since} (ids {self._last_checkpoint_id + 1}.."
                f"{s.last_id}) was altered; expected head {head[:16]}…, "
                f"found {self._head.hex()[:16]}…",
                line=number,
            )
        if last_id != (s.last_id or 0):
            raise AuditError(
                "altered", f"checkpoint names id {last_id}, last event is {s.last_id}", line=number
            )
        self._since_checkpoint = 0
        self._last_checkpoint_line = number
        self._last_checkpoint_id = last_id
        s.checkpoints += 1
        if "reveals" in cp:
            self._reveals(number, cp["reveals"])

    def _reveals(self, number: int, reveals: Any) -> None:
        if self.summary.format_version < REVEALS_FORMAT_VERSION:
            raise AuditError(
                "corrupt",
                f"a checkpoint reveals seeds, which a version-{self.summary.format_version} "
                f"export cannot hold (reveals came with version {REVEALS_FORMAT_VERSION})",
                line=number,
            )
        if not isinstance(reveals, dict):
            raise AuditError("corrupt", "malformed reveals: not a JSON object", line=number)
        seeds: list[tuple[int, str]] = []
        for key, seed in reveals.items():
            if not (key.isascii() and key.isdecimal() and str(int(key)) == key):
                raise AuditError(
                    "corrupt", f"malformed reveal: {key!r} is not a notification id", line=number
                )
            if not isinstance(seed, str) or not _is_hex(seed):
                raise AuditError(
                    "corrupt", f"malformed reveal of id {key}: the seed is not hex", line=number
                )
            seeds.append((int(key), seed))
        if self._on_reveal is not None:
            # In the order of the log, whatever order the keys sort in as strings.
            for pool_id, seed in sorted(seeds):
                self._on_reveal(pool_id, seed)

    def _end(self, number: int, end: Any) -> None:
        if not isinstance(end, dict) or end.get("events") != self.summary.events:
            raise AuditError("corrupt", "end record does not match the events read", line=number)
        if self._since_checkpoint:
            raise AuditError(
                "unsigned",
                f"the last {self._since_checkpoint} events are not covered by a checkpoint",
                line=number,
            )
        if end.get("head") != self._head.hex():
            raise AuditError("altered", "end record names another head", line=number)
        self.summary.head = self._head.hex()
        self._ended = True


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) > 0 and text.isascii() and not any(c.isspace() for c in text)


def verify_export(
    path: Path,
    *,
    expected_signer: str | None = None,
    on_event: Callable[[ExportedEvent], None] | None = None,
    on_reveal: OnReveal | None = None,
    progress: Progress | None = None,
) -> ChainSummary:
    """Verify the export at ``path``; raise :class:`AuditError` at the first fault."""
    verifier = ChainVerifier(
        expected_signer=expected_signer, on_event=on_event, on_reveal=on_reveal
    )
    stored, export = open_measured(path)
    # A pipe has neither a size nor a position to report.
    total = 0 if path == STDIN else path.stat().st_size
    report = None if progress is None or not total else (lambda: progress(stored.tell(), total))
    with stored, export, damage_reported(lambda: verifier.lines_read):
        return verifier.run(read_lines(export, after_batch=report))
