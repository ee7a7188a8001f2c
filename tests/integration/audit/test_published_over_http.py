"""A published log read over plain HTTP from its index's URL: moto's own URL of the bucket
(read without credentials), and a static file server holding a copy, which counts what is
fetched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tests.integration.audit.published_log import VALIDATOR, PublishedLog
from tests.support.played import retire_first_pool
from tests.support.s3 import S3Server
from throne.adapters.publish.http import HttpObjectReader, split_index_url
from throne.audit.format import AuditError
from throne.audit.incremental import verify_published
from throne.miners.server import BackgroundServer


@pytest.fixture
def log(s3: S3Server, tmp_path: Path, aws: None) -> Iterator[PublishedLog]:
    log = PublishedLog(s3, tmp_path)
    log.publish()
    yield log
    log.close()


def verify_url(url: str, state: Path) -> tuple[int, tuple[str, ...]]:
    base, name = split_index_url(url)
    reader = HttpObjectReader(base)
    try:
        report = verify_published(
            reader, state_path=state, index_key=name, expected_signer=VALIDATOR.ss58_address
        )
    finally:
        reader.close()
    verdicts = -1 if report.replay is None else report.replay.verdicts_checked
    return verdicts, report.checked


def test_the_bucket_s_own_http_url_of_the_index_verifies(log: PublishedLog) -> None:
    log.s3.open_for_reading(log.bucket)
    url = f"{log.s3.url}/{log.bucket}/validator/index.json"
    verdicts, checked = verify_url(url, log.state)
    assert verdicts == 2 and checked == tuple(log.part_keys())


class Mirror:
    """A static copy of the bucket folder, served on loopback; every path asked for is kept."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.fetched: list[str] = []
        files = Starlette(routes=[Mount("/", app=StaticFiles(directory=root))])

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.fetched.append(Request(scope).url.path)
            await files(scope, receive, send)

        self.app = app

    def copy(self, log: PublishedLog) -> None:
        for key, data in log.objects().items():
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def test_an_https_index_url_fetches_only_the_index_and_the_new_parts(
    log: PublishedLog, tmp_path: Path
) -> None:
    mirror = Mirror(tmp_path / "www")
    mirror.copy(log)
    old = log.part_keys()
    with BackgroundServer(mirror.app) as server:
        url = f"{server.url}/index.json"
        assert verify_url(url, log.state) == (2, tuple(old))
        assert sorted(mirror.fetched) == sorted(["/index.json", *(f"/{k}" for k in old)])
        retire_first_pool(log.driver)
        log.publish()
        mirror.copy(log)
        new = log.part_keys()[len(old) :]
        mirror.fetched.clear()
        assert verify_url(url, log.state) == (-1, tuple(new))
        assert sorted(mirror.fetched) == sorted(["/index.json", *(f"/{k}" for k in new)])
        # a part the index names that the server does not have
        (mirror.root / log.part_keys()[0]).unlink()
        with pytest.raises(AuditError) as failed:
            verify_url(url, tmp_path / "fresh-state.json")
        assert failed.value.kind == "part-missing"
