"""Publishing the log to S3-compatible storage (moto's server on loopback): immutable parts,
one index, only what is new, and a run cut short resumed with no gap and no duplicate."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.audit.published_log import VALIDATOR, PublishedLog, as_one_export
from tests.support.played import retire_first_pool, set_weights
from tests.support.ports import refusing_port
from tests.support.s3 import S3Server, full_bucket, without_conditional_writes
from throne.adapters.publish.s3 import S3ObjectStore
from throne.audit.publisher import PublishError, publish
from throne.audit.signing import keypair_from_text
from throne.audit.sources import ExportFile
from throne.audit.verification import verify
from throne.miners.server import BackgroundServer
from throne.ports.object_store import S3Location, StoreError


@pytest.fixture
def log(s3: S3Server, tmp_path: Path, aws: None) -> Iterator[PublishedLog]:
    log = PublishedLog(s3, tmp_path)
    yield log
    log.close()


def test_the_parts_put_together_are_the_export_an_append_would_make(
    log: PublishedLog, tmp_path: Path
) -> None:
    done = log.publish()
    assert done.parts == len(done.written) >= 2 and not done.adopted and not done.removed
    assert done.conditional
    index = log.index()
    objects = log.objects()
    assert sorted(objects) == sorted(["index.json", *done.written])
    for n, entry in enumerate(index["parts"], start=1):
        data = objects[entry["key"]]
        assert entry["key"] == f"parts/{n:06d}-{hashlib.sha256(data).hexdigest()}.jsonl.gz"
        assert (entry["seq"], entry["bytes"], entry["sha256"]) == (
            n,
            len(data),
            hashlib.sha256(data).hexdigest(),
        )
        assert entry["head"] == entry["checkpoint"]["head"]
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(as_one_export([objects[k] for k in done.written]))
    report = verify(ExportFile(whole), expected_signer=VALIDATOR.ss58_address, jobs=1)
    assert report.export is not None and report.export.events == done.events
    assert report.export.head == index["parts"][-1]["head"]
    assert report.replay.verdicts_checked == 2


def test_publishing_again_uploads_only_what_is_new(log: PublishedLog) -> None:
    first = log.publish()
    before = log.objects()
    assert log.publish().written == ()  # nothing new: nothing written, the index untouched
    assert log.objects() == before
    retire_first_pool(log.driver)
    set_weights(log.app, 121)
    second = log.publish()
    assert second.written and second.parts == first.parts + len(second.written)
    after = log.objects()
    # every object published before is there as it was; only the index was rewritten
    assert {k: v for k, v in after.items() if k in before and k != "index.json"} == {
        k: v for k, v in before.items() if k != "index.json"
    }
    assert second.block == 121 and second.events > first.events
    assert log.part_keys() == [*first.written, *second.written]


class StopsBeforeTheIndex:
    """The store, but the run is cut off (as by a crash) right after its next part is written,
    before the index names it."""

    def __init__(self, store: S3ObjectStore) -> None:
        self.store = store
        self.parts_written: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def create(self, key: str, data: bytes) -> bool:
        self.parts_written.append(key)
        return self.store.create(key, data)

    def replace(self, key: str, data: bytes, *, expected: str | None) -> str | None:
        if self.parts_written:
            raise KeyboardInterrupt("stopped between the part and the index")
        return self.store.replace(key, data, expected=expected)


@pytest.mark.parametrize("published_before", [False, True])
def test_a_run_stopped_between_a_part_and_the_index_is_resumed_without_gap_or_duplicate(
    log: PublishedLog, published_before: bool
) -> None:
    if published_before:
        log.publish()
        retire_first_pool(log.driver)
    named = log.part_keys() if published_before else []
    cut = StopsBeforeTheIndex(log.open_store())
    with pytest.raises(KeyboardInterrupt):
        log.publish(cut)
    (orphan,) = cut.parts_written
    assert orphan in log.objects() and orphan not in (log.part_keys() if named else [])
    resumed = log.publish()
    assert resumed.adopted == (orphan,) and not resumed.removed
    keys = log.part_keys()
    assert keys[: len(named) + 1] == [*named, orphan]
    assert [int(k[6:12]) for k in keys] == list(range(1, len(keys) + 1))
    assert sorted(log.objects()) == sorted(["index.json", *keys])  # nothing unnamed left


def test_unnamed_parts_that_are_not_the_next_one_are_removed(log: PublishedLog) -> None:
    log.publish()
    count = len(log.part_keys())
    stray = f"parts/{count + 5:06d}-{'0' * 64}.jsonl.gz"
    forged_data = gzip.compress(b'{"id":1}\n')
    forged = f"parts/{count + 1:06d}-{hashlib.sha256(forged_data).hexdigest()}.jsonl.gz"
    log.put(stray, b"junk")
    log.put(forged, forged_data)
    retire_first_pool(log.driver)
    done = log.publish()
    assert sorted(done.removed) == sorted([forged, stray]) and not done.adopted
    keys = log.part_keys()
    assert [int(k[6:12]) for k in keys] == list(range(1, len(keys) + 1))
    assert forged not in keys and sorted(log.objects()) == sorted(["index.json", *keys])


def test_a_log_published_with_another_key_is_not_gone_on_with(log: PublishedLog) -> None:
    log.publish()
    retire_first_pool(log.driver)
    with pytest.raises(PublishError, match=r"signed by .*not by this key"):
        publish(log.db, log.store, keypair_from_text("//Bob"))


def test_a_missing_bucket_is_named(log: PublishedLog) -> None:
    store = S3ObjectStore(S3Location.parse("s3://no-such-bucket/x"), endpoint_url=log.s3.url)
    with pytest.raises(StoreError, match="no bucket 'no-such-bucket'") as failed:
        log.publish(store)
    assert failed.value.kind == "no-bucket"


def test_credentials_the_store_refuses_are_named(log: PublishedLog) -> None:
    with log.s3.enforcing_credentials(), pytest.raises(StoreError) as failed:
        log.publish()
    assert failed.value.kind == "credentials"
    assert "InvalidAccessKeyId" in str(failed.value) and "AWS_ACCESS_KEY_ID" in str(failed.value)


def test_no_credentials_at_all_are_named(
    log: PublishedLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match=r"no credentials .*AWS_ACCESS_KEY_ID") as failed:
        log.publish(log.open_store())
    assert failed.value.kind == "credentials"


def test_an_endpoint_that_is_down_is_named(log: PublishedLog) -> None:
    with refusing_port() as port:
        store = S3ObjectStore(S3Location.parse(log.url), endpoint_url=f"http://127.0.0.1:{port}")
        with pytest.raises(StoreError, match=rf"cannot reach the store at .*:{port}") as failed:
            log.publish(store)
    assert failed.value.kind == "unreachable"


def test_a_full_bucket_is_named_and_nothing_is_left_half_written(log: PublishedLog) -> None:
    with BackgroundServer(full_bucket(log.s3.url)) as proxy:
        store = S3ObjectStore(S3Location.parse(log.url), endpoint_url=proxy.url, anonymous=False)
        with pytest.raises(StoreError, match="the bucket is full or over its quota") as failed:
            log.publish(store)
    assert failed.value.kind == "quota"
    assert log.objects() == {}
    # Once there is room again, the log is published from its start.
    assert log.publish().written


def test_a_store_without_conditional_writes_is_published_to_all_the_same(
    log: PublishedLog,
) -> None:
    with BackgroundServer(without_conditional_writes(log.s3.url)) as proxy:
        store = S3ObjectStore(S3Location.parse(log.url), endpoint_url=proxy.url, anonymous=False)
        done = log.publish(store)
        assert not done.conditional and done.written
        retire_first_pool(log.driver)
        again = log.publish(store)
    assert again.written and log.part_keys() == [*done.written, *again.written]


def test_a_named_part_altered_or_gone_stops_the_publisher_with_its_name(
    log: PublishedLog,
) -> None:
    log.publish()
    retire_first_pool(log.driver)
    last = log.part_keys()[-1]
    log.put(last, gzip.compress(b"not the part"))
    with pytest.raises(PublishError, match="is not the one the index names"):
        log.publish()
    log.delete(last)
    with pytest.raises(PublishError, match="which the index names, is missing"):
        log.publish()
