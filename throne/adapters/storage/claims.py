"""Work claims: several samplers, on this machine or others, share the pending evaluations.

A claim is a row keyed by the work item, held by one worker until it expires. Claiming is one
conditional upsert (``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired``), so the database
decides who gets an item, on SQLite and PostgreSQL alike; a worker that dies leaves claims that
simply expire. Claims only avoid duplicated effort: recording a sample stays idempotent.

Never a deadlock: PostgreSQL's upsert locks every row it meets, even one it then leaves to its
holder, so two claimers taking overlapping keys in different orders would each wait for the
other. Every statement here takes its rows in one order, the keys' code-point order (Python's
``sorted``, PostgreSQL's ``COLLATE "C"``), so no cycle of waits can form.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from throne.adapters.storage.schema import create_tables
from throne.ports.work_claims import WorkClaims

metadata = sa.MetaData()
claims_table = sa.Table(
    "throne_work_claims",
    metadata,
    sa.Column("work_key", sa.String(300), primary_key=True),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

#: Keys per statement: well under SQLite's limit of bound parameters (three per key).
CHUNK = 300


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


class SqlWorkClaims(WorkClaims):
    """Claims as rows of ``throne_work_claims`` in the log's database (see the module's
    docstring for why no two claimers can deadlock)."""

    def __init__(
        self,
        engine: sa.Engine,
        worker: str,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._worker = worker
        self._ttl = ttl_seconds
        self._clock = clock
        create_tables(metadata, engine)
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):  # pragma: no cover
            raise ValueError(f"unsupported database dialect {self._dialect!r}")

    @property
    def worker(self) -> str:
        return self._worker

    def claim(self, keys: Iterable[str]) -> list[str]:
        """The keys this worker now holds (new claims, expired ones taken over, and its own),
        in the order asked."""
        wanted = list(dict.fromkeys(keys))  # one row may be upserted once per statement
        if not wanted:
            return []
        now = self._clock()
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        held: set[str] = set()
        with self._engine.begin() as conn:
            for chunk in _chunks(sorted(wanted)):
                rows = [
                    {"work_key": k, "worker": self._worker, "expires_at": now + self._ttl}
                    for k in chunk
                ]
                stmt = insert(claims_table).values(rows)
                upsert = stmt.on_conflict_do_update(
                    index_elements=[claims_table.c.work_key],
                    set_={"worker": stmt.excluded.worker, "expires_at": stmt.excluded.expires_at},
                    where=sa.or_(
                        claims_table.c.expires_at < now, claims_table.c.worker == self._worker
                    ),
                ).returning(claims_table.c.work_key)
                # Only rows inserted or updated come back: the others stay with their holder.
                held.update(conn.execute(upsert).scalars())
        return [k for k in wanted if k in held]

    def release(self, keys: Iterable[str]) -> None:
        wanted = sorted(set(keys))
        if not wanted:
            return
        mine = claims_table.c.worker == self._worker
        with self._engine.begin() as conn:
            for chunk in _chunks(wanted):
                if self._dialect == "postgresql":
                    # Lock first, in the claimers' order; the delete then waits for nobody.
                    lock = (
                        sa.select(claims_table.c.work_key)
                        .where(claims_table.c.work_key.in_(chunk), mine)
                        .order_by(claims_table.c.work_key.collate("C"))
                        .with_for_update()
                    )
                    chunk = list(conn.execute(lock).scalars())
                    if not chunk:
                        continue
                conn.execute(claims_table.delete().where(claims_table.c.work_key.in_(chunk), mine))

    def purge_expired(self) -> int:
        now = self._clock()
        expired = claims_table.c.expires_at < now
        with self._engine.begin() as conn:
            if self._dialect == "postgresql":
                # A row some claimer is taking over right now is left to it.
                lock = (
                    sa.select(claims_table.c.work_key)
                    .where(expired)
                    .order_by(claims_table.c.work_key.collate("C"))
                    .with_for_update(skip_locked=True)
                )
                keys = list(conn.execute(lock).scalars())
                total = 0
                for chunk in _chunks(keys):
                    result = conn.execute(
                        claims_table.delete().where(claims_table.c.work_key.in_(chunk), expired)
                    )
                    total += int(result.rowcount or 0)
                return total
            result = conn.execute(claims_table.delete().where(expired))
            return int(result.rowcount or 0)
