"""Name what broke a stretch of the links: events reordered, deleted, inserted or altered.

A line out of place (an id that goes back, a version that skips, a checkpoint that does not
come when due), or a verdict that does not recompute, says something is wrong, but not what: a
flipped byte in an originator looks like a gap in its versions, a line moved past a checkpoint
like one missing before it and one added after, an edited score like a wrong verdict. The
signed checkpoint that closes the stretch settles it. It names how many events the stretch
holds, its last id and its head, so:

- if the event lines around it, taken in the order of their ids, hash to that head, the events
  are the ones signed, only moved: ``reordered`` (certain, as far as sha256 is);
- else if fewer or more lines precede it than it counts, events were ``deleted`` or
  ``inserted``;
- else the count is right and the head is not: a line was ``altered``;
- and if it checks out, the stretch is the one signed: what was found out of place stands.

What the verifier collects for this is bounded (see ``MAX_STRETCH``), and it is only read once
something is already wrong.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from hashlib import sha256
from typing import NamedTuple

import orjson

from throne.audit.format import AuditError
from throne.audit.links import LinkState
from throne.audit.records import Checkpoint

#: Event lines the verifier keeps between checkpoints, and after a failed one, to name a fault.
MAX_STRETCH = 1 << 14


class Anchor(NamedTuple):
    """Where the last checkpoint that checked out left the links (or where they start), and
    the line it stands on (0 for the start)."""

    line: int
    state: LinkState


class Stretch:
    """The event lines since the anchor (from line ``first_line``), kept to name a fault with:
    all of them when ``whole``, else those since they were too many to keep.

    Only lines are kept: holding the events themselves would keep their payloads alive, which
    costs the garbage collector a fifth of a verification."""

    __slots__ = ("first_line", "lines", "whole")

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.first_line = 1
        self.whole = True

    def restart(self, first_line: int, *, whole: bool = True) -> None:
        """Keep lines from ``first_line`` on (the same list: a verifier appends to it)."""
        self.lines.clear()
        self.first_line, self.whole = first_line, whole


@dataclass
class Damage:
    """A stretch of the links that does not check out, gathered until it can be named.

    ``stretch`` holds the event lines after ``anchor``; ``read`` counts them all. ``fault`` is
    the first thing found out of place, if any; ``checkpoint`` the signed checkpoint that
    disagrees with the stretch, once read, and ``after`` the event lines that follow it."""

    anchor: Anchor
    stretch: Stretch
    fault: AuditError | None = None
    #: whether the header is linked, so it may be what was altered in the first stretch
    sealed: bool = False
    read: int = 0
    checkpoint: Checkpoint | None = None
    checkpoint_line: int = 0
    head_read: bytes = b""
    after: list[bytes] = field(default_factory=list)

    @property
    def looking_ahead(self) -> bool:
        return self.checkpoint is not None

    def judge(self, checkpoint: Checkpoint, line: int, head_read: bytes) -> None:
        """Note the signed checkpoint at ``line`` that the stretch, which hashes to
        ``head_read``, does not match; the lines that follow it are gathered next."""
        self.checkpoint, self.checkpoint_line, self.head_read = checkpoint, line, head_read

    def name(self) -> AuditError:
        """What the stretch shows, as the error to raise."""
        cp = self.checkpoint
        if cp is None:
            # No signed checkpoint to judge the stretch by: what was found out of place stands.
            assert self.fault is not None
            return self.fault
        moved = self._reordered(cp)
        if moved is not None:
            return moved
        anchor, state = self.anchor, self.anchor.state
        since = f"since the checkpoint at line {anchor.line}" if anchor.line else "from the start"
        signed = cp.events - state.events
        if self.read != signed:
            kind = "deleted" if self.read < signed else "inserted"
            if self.fault is not None and self.fault.kind == kind:
                return self.fault  # it names the very event
            return AuditError(
                kind,
                f"checkpoint covers {cp.events} events but {state.events + self.read} "
                f"precede it: events {kind} {since}",
                line=self.checkpoint_line,
            )
        what = "the header or an event" if self.sealed and not anchor.line else "an event"
        fault = self.fault
        first = f"; line {fault.line} is the first out of place" if fault and fault.line else ""
        return AuditError(
            "altered",
            f"hash chain broken: {what} {since} (ids {state.last_id + 1}..{self._last_id()}) "
            f"was altered; expected head {cp.head.hex()[:16]}…, found "
            f"{self.head_read.hex()[:16]}…{first}",
            line=self.checkpoint_line,
        )

    def _reordered(self, cp: Checkpoint) -> AuditError | None:
        """The events moved, if the lines around the checkpoint, in id order, are what it
        signed; else None."""
        stretch, state = self.stretch, self.anchor.state
        if not stretch.whole:
            return None
        low, high = state.last_id, cp.last_id
        placed = [(stretch.first_line + i, line) for i, line in enumerate(stretch.lines)]
        placed += [(self.checkpoint_line + 1 + i, line) for i, line in enumerate(self.after)]
        covered: list[tuple[int, int, bytes]] = []
        for number, line in placed:
            event_id = _id_of(line)
            if event_id is not None and low < event_id <= high:
                covered.append((event_id, number, line))
        covered.sort()
        if len(covered) != cp.events - state.events:
            return None
        head = state.head
        for _, _, line in covered:
            head = sha256(head + line).digest()
        if head != cp.head:
            return None
        moved = self._first_moved(placed, high)
        if moved is None:
            return None
        number, event_id = moved, _id_of(dict(placed)[moved])
        at = f"the checkpoint at line {self.checkpoint_line}"
        if number > self.checkpoint_line:
            where = f"comes after {at}, which covers it"
        elif event_id is not None and event_id > high:
            where = f"comes before {at}, which does not cover it"
        else:
            where = "is out of its place"
        return AuditError(
            "reordered",
            f"events out of order: id {event_id} {where}; taken in the order of their ids, "
            f"the events are exactly the ones {at} signed",
            line=number,
        )

    def _first_moved(self, placed: list[tuple[int, bytes]], high: int) -> int | None:
        """The line of the first event, in the file's order, that moved: one on the wrong side
        of the checkpoint, else one out of the longest run of the others in id order."""
        cut = self.checkpoint_line
        before: list[tuple[int, int]] = []
        for number, line in placed:
            event_id = _id_of(line)
            if event_id is None:
                continue
            if (number < cut) != (event_id <= high):
                return number  # before the checkpoint but not covered by it, or the reverse
            if number < cut:
                before.append((number, event_id))
        kept = set(_longest_increasing(before))
        return next((number for number, _ in before if number not in kept), None)

    def _last_id(self) -> int | str:
        for line in reversed(self.stretch.lines):
            event_id = _id_of(line)
            if event_id is not None:
                return event_id
        return "?"


def _longest_increasing(items: list[tuple[int, int]]) -> list[int]:
    """The line numbers of a longest run of ``(line, id)`` whose ids increase."""
    tails: list[int] = []  # tails[k]: the item ending the run of length k + 1 with the least id
    tail_ids: list[int] = []  # and that id
    previous: list[int] = [-1] * len(items)
    for i, (_, event_id) in enumerate(items):
        k = bisect_left(tail_ids, event_id)
        previous[i] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(i)
            tail_ids.append(event_id)
        else:
            tails[k], tail_ids[k] = i, event_id
    run: list[int] = []
    i = tails[-1] if tails else -1
    while i >= 0:
        run.append(items[i][0])
        i = previous[i]
    return run[::-1]


def _id_of(line: bytes) -> int | None:
    try:
        event_id = orjson.loads(line)["id"]
    except (ValueError, TypeError, KeyError):
        return None
    return event_id if type(event_id) is int else None
