"""The `WorkClaims` port: several samplers, on this machine or others, share the pending work.

A claim on a work item is held by one worker until it expires, unless that worker renews it
(by claiming it again) or releases it. Claims only avoid duplicated effort: recording a sample
stays idempotent, so a claim that two workers briefly both think they hold costs a duplicate
evaluation, never a wrong result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class WorkClaims(Protocol):
    """One worker's claims on work items, named by string keys. Adapter: `SqlWorkClaims` (a
    table in the log's database, SQLite or PostgreSQL). Calls may block; one at a time."""

    def claim(self, keys: Iterable[str]) -> list[str]:
        """The keys this worker now holds, in the order asked, each once: items no one held,
        items whose claim expired, and its own (renewed). Items another worker holds are left
        out."""

    def release(self, keys: Iterable[str]) -> None:
        """Give back this worker's claims on ``keys`` at once; keys it does not hold are left
        as they are."""
