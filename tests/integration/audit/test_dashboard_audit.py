"""The dashboard's audit page of a published log (moto's S3 server on loopback): the last
signed checkpoint its index names, and the command that verifies it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.audit.published_log import VALIDATOR, PublishedLog
from tests.support.clock import FakeClock
from tests.support.ports import refusing_port
from tests.support.s3 import S3Server
from throne.app import open_reads
from throne.observability.health import Heartbeat
from throne.observability.publication import Publication, PublishTarget, open_publication
from throne.observability.status_api import StatusServer, status_app


@pytest.fixture
def log(s3: S3Server, tmp_path: Path, aws: None) -> Iterator[PublishedLog]:
    log = PublishedLog(s3, tmp_path)
    yield log
    log.close()


def test_the_audit_page_names_the_last_signed_checkpoint_and_the_verify_command(
    log: PublishedLog,
) -> None:
    log.publish()
    target = PublishTarget(
        log.url, endpoint_url=log.s3.url, index_url="https://logs.example/i.json"
    )
    reads = open_reads(log.db, log.app.config)
    app = status_app(lambda: reads, heartbeat=Heartbeat(), publication=open_publication(target))
    try:
        with StatusServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as c:
            audit = c.get("/audit").json()
            page = c.get("/dashboard/audit").text
    finally:
        reads.close()
    last = log.index()["parts"][-1]
    checkpoint = audit["published"]["last_checkpoint"]
    assert audit["published"]["parts"] == len(log.index()["parts"])
    assert checkpoint["part"] == last["seq"] and checkpoint["head"] == last["head"]
    assert checkpoint["last_id"] == last["last_id"] and checkpoint["block"] == last["block"]
    assert checkpoint["signer"] == VALIDATOR.ss58_address
    assert checkpoint["signature"] == last["checkpoint"]["signature"]
    assert audit["head"]["notification_id"] == last["last_id"]
    assert audit["verify_commands"] == [
        f"throne audit verify {log.url} --endpoint-url {log.s3.url}",
        "throne audit verify https://logs.example/i.json",
    ]
    assert f"throne audit verify {log.url} --endpoint-url {log.s3.url}" in page
    assert last["head"] in page


def test_the_index_is_read_at_most_once_an_interval_and_a_failure_is_said(
    log: PublishedLog,
) -> None:
    clock = FakeClock()
    opened: list[int] = []

    def open_reader() -> PublishedLog:
        opened.append(1)
        return log.open_store()  # type: ignore[return-value]

    publication = Publication(PublishTarget(log.url), open_reader, every=60, clock=clock)
    first = publication.status()
    assert first["last_checkpoint"] is None and first["error"] == "nothing published yet"
    log.publish()
    assert publication.status() == first  # within the interval: not read again
    clock.now += 60
    assert publication.status()["last_checkpoint"] is not None
    assert opened == [1]
    with refusing_port() as port:
        down = PublishTarget(log.url, endpoint_url=f"http://127.0.0.1:{port}")
        status = open_publication(down).status()
    assert status["last_checkpoint"] is None and status["parts"] is None
    assert status["error"] and status["verify_commands"] == [
        f"throne audit verify {log.url} --endpoint-url http://127.0.0.1:{port}"
    ]
