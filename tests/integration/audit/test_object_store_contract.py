"""The `ObjectStore` contract, passed by `S3ObjectStore` against moto's S3 server on loopback,
as it is and behind a proxy that refuses conditional writes (as some S3-compatible stores do):
there the adapter reads before it writes, with the same results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.s3 import S3Server, without_conditional_writes
from throne.adapters.publish.s3 import S3ObjectStore
from throne.miners.server import BackgroundServer
from throne.ports.object_store import ObjectStore, S3Location, StoreError


@pytest.fixture(params=["conditional", "unconditional"])
def store(request: pytest.FixtureRequest, s3: S3Server, aws: None) -> Iterator[ObjectStore]:
    bucket = s3.new_bucket()
    location = S3Location.parse(f"s3://{bucket}/some/prefix")
    if request.param == "conditional":
        yield S3ObjectStore(location, endpoint_url=s3.url, anonymous=False)
        return
    with BackgroundServer(without_conditional_writes(s3.url)) as proxy:
        yield S3ObjectStore(location, endpoint_url=proxy.url, anonymous=False)


def test_create_writes_once_and_never_over_an_object(store: ObjectStore) -> None:
    assert store.create("parts/a", b"one")
    assert not store.create("parts/a", b"two")
    found = store.read("parts/a")
    assert found is not None and found.data == b"one"


def test_replace_moves_on_only_from_the_tag_it_was_given(store: ObjectStore) -> None:
    first = store.replace("index.json", b"1", expected=None)
    with pytest.raises(StoreError) as lost:
        store.replace("index.json", b"x", expected=None)  # it exists already
    assert lost.value.kind == "conflict"
    second = store.replace("index.json", b"2", expected=first)
    with pytest.raises(StoreError) as stale:
        store.replace("index.json", b"y", expected=first)  # someone moved it on
    assert stale.value.kind == "conflict"
    found = store.read("index.json")
    assert found is not None and (found.data, found.etag) == (b"2", second)


def test_keys_are_listed_under_the_prefix_and_deleted(store: ObjectStore) -> None:
    assert store.read("missing") is None and store.keys("") == []
    for key in ("parts/2", "parts/1", "index.json"):
        store.create(key, b"x")
    assert store.keys("parts/") == ["parts/1", "parts/2"]
    store.delete("parts/1")
    store.delete("parts/never")
    assert store.keys("") == ["index.json", "parts/2"]
    assert store.where.endswith("/some/prefix/")


def test_the_adapter_says_whether_the_store_took_conditional_writes(
    store: ObjectStore, request: pytest.FixtureRequest
) -> None:
    store.create("k", b"x")
    assert store.conditional == ("[conditional]" in request.node.name)
