"""The daemon's publisher: ``[publish]`` read and checked, the loop the composition root builds
from it, and a loop that goes on through failures (moto's S3 server on loopback)."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.support.paths import ROOT
from tests.support.played import played_database
from tests.support.s3 import S3Server, aws_environment, s3_server
from throne.app import build, create_local_chain, open_object_store, open_publish_loop
from throne.app.publish import publish_target
from throne.audit.publisher import publish
from throne.audit.signing import keypair_from_text
from throne.daemon.publishing import PublishLoop
from throne.daemon.settings import PublishSettings, SettingsError, settings_from_dict
from throne.daemon.supervisor import Supervisor
from throne.envs.registry import environments
from throne.observability.health import Heartbeat

RANGES = {"SAT": (0, 1000), "ABD": (0, 500)}
SIGNER = keypair_from_text("//Alice")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    aws_environment(monkeypatch, tmp_path)


def test_the_publish_section_is_read_and_shown() -> None:
    raw = {
        "publish": {
            "to": "s3://logs/validator",
            "every_blocks": 50,
            "endpoint_url": "https://acct.r2.cloudflarestorage.com",
            "region": "auto",
            "index_url": "https://logs.example/validator/index.json",
        }
    }
    s = settings_from_dict(raw, RANGES)
    # The public index is what the dashboard's audit page gives auditors, beside the bucket.
    target = publish_target(s)
    assert target is not None and target.verify_commands() == [
        "throne audit verify s3://logs/validator "
        "--endpoint-url https://acct.r2.cloudflarestorage.com",
        "throne audit verify https://logs.example/validator/index.json",
    ]
    assert (s.publish.to, s.publish.every_blocks, s.publish.region) == (
        "s3://logs/validator",
        50,
        "auto",
    )
    assert s.to_dict()["publish"]["endpoint_url"] == "https://acct.r2.cloudflarestorage.com"
    assert settings_from_dict({}, RANGES).publish.to == ""  # not published by default


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"to": "logs/validator"}, "to must be an s3://BUCKET/PREFIX URL"),
        ({"every_blocks": 0}, "every_blocks must be >= 1"),
        ({"endpoint_url": "r2.example"}, "endpoint_url must be an http(s):// URL, or empty"),
        ({"index_url": "logs.example/index.json"}, "index_url must be an http(s):// URL"),
        ({"access_key": "x"}, "unknown key(s) ['access_key']"),
    ],
)
def test_bad_publish_settings_are_named(table: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SettingsError) as failed:
        settings_from_dict({"publish": table}, RANGES)
    assert "[publish]" in str(failed.value) and message in str(failed.value)


def test_the_root_builds_a_publisher_only_when_told_where(tmp_path: Path) -> None:
    db = played_database(tmp_path / "log.db")
    assert open_publish_loop(settings_from_dict({}, RANGES), db, lambda: 1) is None
    key = tmp_path / "key"
    key.write_text("//Alice")
    told = settings_from_dict({"publish": {"to": "s3://logs/v", "key": str(key)}}, RANGES)
    assert callable(open_publish_loop(told, db, lambda: 1))


def test_a_failed_attempt_is_one_line_an_outage_and_the_next_one_publishes(
    s3: S3Server, tmp_path: Path
) -> None:
    db = played_database(tmp_path / "log.db")
    bucket = "not-yet-there"
    store = open_object_store(f"s3://{bucket}/validator", endpoint_url=s3.url)
    block = [10]
    attempts: list[int] = []
    health = Heartbeat()
    between: list[tuple[bool, dict[str, object]]] = []
    published = asyncio.Event()
    polls_after_failure = [0]

    def current_block() -> int:
        if len(attempts) == 1:  # after the failure, the loop keeps polling, failing still
            polls_after_failure[0] += 1
            if polls_after_failure[0] == 3:
                between.append(health.status())
                s3.client().create_bucket(Bucket=bucket)  # the operator mends it
                block[0] = 14  # and the chain moves on
        return block[0]

    def attempt() -> object:
        attempts.append(block[0])
        try:
            return publish(db, store, SIGNER)
        finally:
            if len(attempts) == 2:
                published.set()

    loop = PublishLoop(
        attempt,  # type: ignore[arg-type]
        every_blocks=4,
        current_block=current_block,
        poll_seconds=0.01,
    )
    supervisor = Supervisor(health.outages, first_backoff=0.01)
    stop = asyncio.Event()

    async def main() -> None:
        task = asyncio.create_task(supervisor.run("publish", loop.run, stop))
        try:
            await asyncio.wait_for(published.wait(), 30)
            while health.outages.describe():  # the loop's next iteration ends the outage
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)

    with capture_logs() as logs:
        asyncio.run(main())
    assert attempts == [10, 14]
    failed = [e for e in logs if e["event"] == "publish_failed"]
    assert len(failed) == 1 and failed[0]["cause"] == "no-bucket"
    assert bucket in failed[0]["error"] and failed[0]["retry_at_block"] == 14
    # While it failed, /healthz said so, by the loop's name and the failure's cause.
    [(healthy, body)] = between
    outage = body["outages"]["publish"]  # type: ignore[index]
    assert not healthy and body["status"] == "outage"
    assert outage["cause"] == "no-bucket" and bucket in outage["error"]
    assert outage["failures"] == 1
    (done,) = [e for e in logs if e["event"] == "published"]
    assert done["written"] >= 1 and done["events"] == 49
    assert health.status()[0] and health.outages.describe() == {}
    (ended,) = [e for e in logs if e["event"] == "outage_ended"]
    assert ended["loop"] == "publish" and ended["cause"] == "no-bucket"
    index = json.loads(s3.objects(bucket, "validator/")["index.json"])
    assert index["parts"][-1]["last_id"] == 49


def test_nothing_is_attempted_before_the_chain_moves_on() -> None:
    loop = PublishLoop(lambda: None, every_blocks=5, current_block=lambda: 0, poll_seconds=1)
    assert not loop.due(0) and loop.due(1)
    loop.attempted_at = 1
    assert not loop.due(5) and loop.due(6)


def test_the_documented_example_shows_every_publish_key_at_its_default() -> None:
    raw = tomllib.loads((ROOT / "docs" / "throne.toml").read_text())["publish"]
    assert set(raw) == {f.name for f in fields(PublishSettings)}
    assert settings_from_dict({"publish": raw}, RANGES).publish == PublishSettings()


def test_the_daemon_built_with_a_publish_section_publishes_its_log(
    s3: S3Server, tmp_path: Path
) -> None:
    bucket = s3.new_bucket()
    key = tmp_path / "key"
    key.write_text("//Alice")
    raw = {
        "validator": {"db": str(tmp_path / "log.db"), "poll_seconds": 0.05},
        "publish": {"to": f"s3://{bucket}/v", "endpoint_url": s3.url, "key": str(key)},
    }
    chain = create_local_chain(
        tmp_path / "chain.db",
        netuid=120,
        start_block=1,
        clock_mode="manual",
        block_time=12.0,
        weights_rate_limit=100,
        version_key=0,
    )
    services = build(
        settings_from_dict(raw, RANGES),
        chain=chain,
        environments=environments(),
        with_weights=False,
        pool_secret=bytes(32),
    )

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(services.daemon.run(stop))
        try:
            for _ in range(600):  # at most a minute
                if "index.json" in await asyncio.to_thread(s3.objects, bucket, "v/"):
                    break
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await services.aclose()

    asyncio.run(main())
    index = json.loads(s3.objects(bucket, "v/")["index.json"])
    assert index["signer"] == SIGNER.ss58_address and index["parts"][0]["events"] >= 1
