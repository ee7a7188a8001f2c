from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SQL_BACKENDS, make_db_url
from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.responses import (
    InMemoryResponseStore,
    ResponseCorrupted,
    ResponseNotFound,
    ResponseStore,
    SqlResponseStore,
    digest_of,
    responses_table,
)


@pytest.fixture(params=["memory", *SQL_BACKENDS])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResponseStore]:
    if request.param == "memory":
        yield InMemoryResponseStore()
        return
    engine = parse_database_url(make_db_url(request.param, request, tmp_path)).create_engine()
    yield SqlResponseStore(engine)
    engine.dispose()


def test_a_response_is_found_again_under_its_sha256(store: ResponseStore) -> None:
    body = b'{"answer": "x = 1, y = 0"}'
    digest = store.put(body)
    assert digest == digest_of(body) and len(digest) == 64
    assert store.has(digest)
    assert store.get(digest) == body


def test_storing_the_same_response_twice_keeps_one_copy(store: ResponseStore) -> None:
    assert store.put(b"same") == store.put(b"same")
    assert store.get(digest_of(b"same")) == b"same"


def test_an_unknown_digest_is_not_found(store: ResponseStore) -> None:
    assert not store.has("0" * 64)
    with pytest.raises(ResponseNotFound):
        store.get("0" * 64)


def test_large_and_binary_responses_round_trip(store: ResponseStore) -> None:
    body = os.urandom(50_000) + b"\x00" * 200_000
    assert store.get(store.put(body)) == body


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
