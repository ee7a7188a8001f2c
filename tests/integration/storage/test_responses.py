"""SqlResponseStore beyond the port's contract: compressed, shared, checked on the way out."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.responses import SqlResponseStore, responses_table
from throne.ports.response_store import ResponseCorrupted, digest_of


def test_sql_store_keeps_bodies_compressed_and_shares_them(db_url: str) -> None:
    engine = parse_database_url(db_url).create_engine()
    first, second = SqlResponseStore(engine), SqlResponseStore(engine)
    body = b"the same reasoning, again and again. " * 1000
    digest = first.put(body)
    assert second.get(digest) == body
    with engine.connect() as conn:
        size, stored = conn.execute(sa.select(responses_table.c.size, responses_table.c.body)).one()
    assert size == len(body) and len(stored) < len(body) // 10
    assert first.put_many([body, b"other"]) == [digest, digest_of(b"other")]
    engine.dispose()


def test_a_tampered_stored_response_is_reported_not_returned(db_url: str) -> None:
    import zlib

    engine = parse_database_url(db_url).create_engine()
    store = SqlResponseStore(engine)
    digest = store.put(b"original")
    with engine.begin() as conn:
        conn.execute(sa.update(responses_table).values(body=zlib.compress(b"forged")))
    with pytest.raises(ResponseCorrupted, match="hash to"):
        store.get(digest)
    engine.dispose()
