"""The `ResponseStore` contract: every adapter (a dict, SQLite, PostgreSQL) passes it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SQL_BACKENDS, make_db_url
from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.responses import InMemoryResponseStore, SqlResponseStore
from throne.ports.response_store import ResponseNotFound, ResponseStore, digest_of


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


def test_large_binary_and_empty_responses_round_trip(store: ResponseStore) -> None:
    body = os.urandom(50_000) + b"\x00" * 200_000
    assert store.get(store.put(body)) == body
    assert store.get(store.put(b"")) == b""


def test_responses_are_kept_apart(store: ResponseStore) -> None:
    first, second = store.put(b"first answer"), store.put(b"second answer")
    assert first != second
    assert (store.get(first), store.get(second)) == (b"first answer", b"second answer")
