"""Work claims: several samplers, on this machine or others, share the pending evaluations.

A claim is a row keyed by the work item, held by one worker until it expires. Claiming is one
conditional upsert (``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired``), so the database
decides who gets an item, on SQLite and PostgreSQL alike; a worker that dies leaves claims that
simply expire. Claims only avoid duplicated effort: recording a sample stays idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

metadata = sa.MetaData()
claims_table = sa.Table(
    "throne_work_claims",
    metadata,
    sa.Column("work_key", sa.String(300), primary_key=True),
    sa.Column("worker", sa.String(100), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)


class SqlWorkClaims:
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
        metadata.create_all(engine)
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):  # pragma: no cover
            raise ValueError(f"unsupported database dialect {self._dialect!r}")

    @property
    def worker(self) -> str:
        return self._worker

    def claim(self, keys: Iterable[str]) -> list[str]:
        """The keys this worker now holds (new claims, expired ones taken over, and its own)."""
        now = self._clock()
        got = []
        with self._engine.begin() as conn:
            for key in keys:
                insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
                values = {"work_key": key, "worker": self._worker, "expires_at": now + self._ttl}
                stmt = insert(claims_table).values(**values)
                upsert = stmt.on_conflict_do_update(
                    index_elements=[claims_table.c.work_key],
                    set_={"worker": self._worker, "expires_at": now + self._ttl},
                    where=sa.or_(
                        claims_table.c.expires_at < now, claims_table.c.worker == self._worker
                    ),
                ).returning(claims_table.c.worker)
                if conn.execute(upsert).scalar() == self._worker:
                    got.append(key)
        return got

    def release(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        with self._engine.begin() as conn:
            conn.execute(
                claims_table.delete().where(
                    claims_table.c.work_key.in_(keys), claims_table.c.worker == self._worker
                )
            )

    def purge_expired(self) -> int:
        with self._engine.begin() as conn:
            result = conn.execute(
                claims_table.delete().where(claims_table.c.expires_at < self._clock())
            )
            return int(result.rowcount or 0)
