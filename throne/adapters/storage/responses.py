"""`ResponseStore` adapters: the log's database (SQLite or PostgreSQL), and a dict for tests.

``SampleScored`` carries only the digest; the bytes live here, in the same database as the log, so
that several sampling workers on one PostgreSQL share them and an auditor can re-score a sample.
"""

from __future__ import annotations

import zlib

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from throne.adapters.storage.schema import create_tables
from throne.ports.response_store import (
    ResponseCorrupted,
    ResponseNotFound,
    ResponseStore,
    digest_of,
)

COMPRESSION_LEVEL = 6


class InMemoryResponseStore(ResponseStore):
    """A dict, for tests of code that stores responses."""

    def __init__(self) -> None:
        self._bodies: dict[str, bytes] = {}

    def put(self, body: bytes) -> str:
        digest = digest_of(body)
        self._bodies.setdefault(digest, bytes(body))
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._bodies[digest]
        except KeyError:
            raise ResponseNotFound(digest) from None

    def has(self, digest: str) -> bool:
        return digest in self._bodies


metadata = sa.MetaData()
responses_table = sa.Table(
    "throne_responses",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
)


class SqlResponseStore(ResponseStore):
    """Responses in the ``throne_responses`` table of the log's database (SQLite or PostgreSQL).

    Bodies are zlib-compressed; ``get`` checks the digest of what it returns.
    """

    def __init__(self, engine: sa.Engine, *, create_table: bool = True) -> None:
        self._engine = engine
        if create_table:
            create_tables(metadata, engine)
        dialect = engine.dialect.name
        self._insert: sa.Insert
        if dialect == "postgresql":
            self._insert = postgresql.insert(responses_table).on_conflict_do_nothing()
        elif dialect == "sqlite":
            self._insert = sqlite.insert(responses_table).on_conflict_do_nothing()
        else:  # pragma: no cover - the engine comes from Database.create_engine
            raise ValueError(f"unsupported database dialect {dialect!r}")

    def put(self, body: bytes) -> str:
        digest = digest_of(body)
        row = {"digest": digest, "size": len(body), "body": zlib.compress(body, COMPRESSION_LEVEL)}
        with self._engine.begin() as conn:
            conn.execute(self._insert, row)
        return digest

    def put_many(self, bodies: list[bytes]) -> list[str]:
        """Store several bodies in one transaction; digests in the order given."""
        rows = {
            digest_of(b): {"size": len(b), "body": zlib.compress(b, COMPRESSION_LEVEL)}
            for b in bodies
        }
        if rows:
            with self._engine.begin() as conn:
                conn.execute(self._insert, [{"digest": d, **r} for d, r in rows.items()])
        return [digest_of(b) for b in bodies]

    def get(self, digest: str) -> bytes:
        with self._engine.connect() as conn:
            stored = conn.execute(
                sa.select(responses_table.c.body).where(responses_table.c.digest == digest)
            ).scalar_one_or_none()
        if stored is None:
            raise ResponseNotFound(digest)
        try:
            body = zlib.decompress(stored)
        except zlib.error as exc:
            raise ResponseCorrupted(f"response {digest}: cannot decompress ({exc})") from exc
        if digest_of(body) != digest:
            raise ResponseCorrupted(f"response {digest}: stored bytes hash to {digest_of(body)}")
        return body

    def has(self, digest: str) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                sa.select(sa.literal(1)).where(responses_table.c.digest == digest)
            ).first()
        return found is not None
