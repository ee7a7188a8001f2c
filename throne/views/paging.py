"""Pages of a long list: a log's history grows without end, and no answer should.

Page 1 holds the newest ``limit`` items, page 2 the ones before them, and so on; within a page
the items keep the list's own order (oldest first). ``limit`` is bounded (`MAX_LIMIT`): a
request for more is refused, not silently cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_PAGE = 1_000_000


class BadPage(ValueError):
    """A ``page`` or ``limit`` that is no whole number in its bounds; the message says which."""


@dataclass(frozen=True)
class Page:
    page: int = 1
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, page: str | None, limit: str | None, default_limit: int = DEFAULT_LIMIT) -> Page:
        """From a query's ``page`` and ``limit`` (None: not given)."""
        return cls(
            _bounded("page", page, 1, 1, MAX_PAGE),
            _bounded("limit", limit, default_limit, 1, MAX_LIMIT),
        )

    def of(self, items: Sequence[T]) -> list[T]:
        """This page's items of ``items`` (oldest first): empty past the last page."""
        end = len(items) - (self.page - 1) * self.limit
        return [] if end <= 0 else list(items[max(0, end - self.limit) : end])

    def pages(self, total: int) -> int:
        """How many pages ``total`` items fill (1 for none: an empty first page)."""
        return max(1, math.ceil(total / self.limit))

    def describe(self, total: int) -> dict[str, Any]:
        return {"page": self.page, "limit": self.limit, "pages": self.pages(total), "total": total}


def _bounded(name: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise BadPage(f"{name} must be a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise BadPage(f"{name} must be a whole number from {low} to {high}")
    return value


def paged_history(history: dict[str, Any], page: Page) -> dict[str, Any]:
    """The `history` view cut to one page of each of its lists; every battle carries its
    ``number`` (1 for the first ever battle), which `battle` finds it by."""
    lists = ("reigns", "battles", "terminated", "operator_actions")
    numbered = [{"number": i, **b} for i, b in enumerate(history["battles"], start=1)]
    full = {**history, "battles": numbered}
    totals = {name: len(full[name]) for name in lists}
    out = {k: v for k, v in full.items() if k not in lists}
    out.update({name: page.of(full[name]) for name in lists})
    out["page"] = {
        "page": page.page,
        "limit": page.limit,
        "pages": max(page.pages(n) for n in totals.values()),
        "totals": totals,
    }
    return out


def battle(history: dict[str, Any], number: int) -> dict[str, Any] | None:
    """Battle ``number`` of the `history` view (1 for the first), or None."""
    battles = history["battles"]
    if not 1 <= number <= len(battles):
        return None
    return {"number": number, **battles[number - 1]}
