"""The status API's reads: each view built once per change of the log (`read_cache`) and kept
both as the value and as its JSON, so that the JSON routes and the dashboard's pages serve the
same snapshot — every number a page shows is one the API answers.

A view that takes a parameter (a page of the history, one battle, one env's samples) is cut out
of the snapshot of the whole view by a pure function (`throne.views.paging`), the same one for
the JSON route and for the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import orjson
from eventsourcing.domain import EventSourcingError
from starlette.concurrency import run_in_threadpool

from throne import views
from throne.adapters.storage.database import is_storage_failure
from throne.observability.publication import Publication
from throne.observability.read_cache import ReadCache
from throne.projections.read_side import ReadSide
from throne.views.audit import audit, log_head
from throne.views.miner import MinerDirectory, miner_directory
from throne.views.samples import samples
from throne.views.weights import submissions

T = TypeVar("T")
ReadsProvider = Callable[[], ReadSide]


@dataclass(frozen=True)
class Served:
    """A view's value and its JSON, built together once."""

    value: Any
    body: bytes


def encode(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def unavailable(exc: BaseException) -> bool:
    """The log could not be read (as opposed to a fault of the view)."""
    return is_storage_failure(exc) or isinstance(exc, EventSourcingError)


class StatusReads:
    """``publication``: where the log is published, if it is (the audit view names it);
    ``db_hint``: how the audit's export command names the database."""

    #: the views served whole, by key
    VIEWS: ClassVar[dict[str, Callable[[ReadSide], Any]]] = {
        "rank": views.rank,
        "weights": views.weights,
        "history": views.history,
        "submissions": submissions,
        "samples": samples,
    }

    def __init__(
        self,
        provide: ReadsProvider,
        cache: ReadCache,
        *,
        publication: Publication | None = None,
        db_hint: str = "URL",
    ) -> None:
        self._provide = provide
        self.cache = cache
        self.publication = publication
        self._db_hint = db_hint

    async def _snapshot(self, key: str, build: Callable[[], T]) -> T:
        found = self.cache.fresh(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        # Building reads the log: off the server's event loop, which keeps answering.
        return await run_in_threadpool(self.cache.read, key, build)

    async def view(self, key: str) -> Served:
        """The snapshot of view ``key`` (one of `VIEWS`)."""
        build = self.VIEWS[key]

        def served() -> Served:
            value = build(self._provide())
            return Served(value, encode(value))

        return await self._snapshot(key, served)

    async def value(self, key: str) -> Any:
        return (await self.view(key)).value

    async def miners(self) -> MinerDirectory:
        return await self._snapshot("miners", lambda: miner_directory(self._provide()))

    async def audit(self) -> dict[str, Any]:
        """The log's head (rebuilt with the log) and the publication's status (read at most
        once per its interval)."""
        head = await self._snapshot("audit", lambda: log_head(self._provide()))
        if self.publication is None:
            return audit(head, None, self._db_hint)
        published = await run_in_threadpool(self.publication.status)
        return audit(head, published, self._db_hint)
