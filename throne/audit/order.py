"""The order events come in: notification ids strictly increase, and each originator's versions
run 1, 2, 3, ... without gaps. Whatever breaks it is named: reordered, deleted or inserted."""

from __future__ import annotations

from throne.audit.format import AuditError
from throne.audit.records import ExportedEvent


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


class SpanOrder(EventOrder):
    """Event order within a span of an export: an originator first seen here may start past
    version 1 (its earlier versions are in earlier spans); which version it started at is kept,
    to check when the spans are put together that it goes on from where they left it."""

    def __init__(self) -> None:
        super().__init__()
        self.first_versions: dict[str, int] = {}

    def check(self, event: ExportedEvent, *, line: int | None = None) -> None:
        originator = event.originator
        if (
            originator not in self.versions
            and event.version > 1
            and (self.last_id is None or event.id > self.last_id)
        ):
            self.first_versions[originator] = event.version
            self.versions[originator] = event.version
            self.last_id = event.id
            return
        super().check(event, line=line)


def stitch_versions(
    versions: dict[str, int], span_versions: dict[str, int], first_versions: dict[str, int]
) -> None:
    """Take a span's last versions into ``versions``, the last ones of the spans before it:
    each originator's versions must go on from where those left them."""
    for originator, last in span_versions.items():
        first = first_versions.get(originator, 1)
        if first != versions.get(originator, 0) + 1:
            raise AuditError("corrupt", f"versions of {originator} do not continue across spans")
        versions[originator] = last
