"""A contest on a SQLite log, and the bucket folder it is published to: what the tests of
publishing and of verifying a published log share."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from tests.support.contest import Driver, small_config
from tests.support.played import play_first_pool
from tests.support.s3 import S3Server
from throne.adapters.publish.s3 import S3ObjectStore
from throne.adapters.storage.database import Database, parse_database_url
from throne.application import ThroneApplication
from throne.audit.publisher import Published, publish
from throne.audit.signing import keypair_from_text
from throne.ports.object_store import S3Location

VALIDATOR = keypair_from_text("//Alice")
#: Small parts and checkpoints, so that the short contest makes several of each.
PART_IDS = 15
CHECKPOINT_EVERY = 10


class PublishedLog:
    """Pool 1 played on a SQLite log (more with ``driver``), published under ``prefix``."""

    def __init__(self, s3: S3Server, tmp_path: Path, prefix: str = "validator") -> None:
        self.s3 = s3
        self.bucket = s3.new_bucket()
        self.prefix = f"{prefix}/"
        self.url = f"s3://{self.bucket}/{prefix}"
        self.db: Database = parse_database_url(str(tmp_path / "log.db"))
        self.app = ThroneApplication(small_config(burn=0.25), env=self.db.eventsourcing_env())
        self.driver: Driver = play_first_pool(self.app)
        self.store = self.open_store()
        self.state = tmp_path / "verified.json"

    def open_store(self) -> S3ObjectStore:
        return S3ObjectStore(S3Location.parse(self.url), endpoint_url=self.s3.url, anonymous=False)

    def publish(self, store: Any = None) -> Published:
        return publish(
            self.db,
            store or self.store,
            VALIDATOR,
            checkpoint_every=CHECKPOINT_EVERY,
            part_ids=PART_IDS,
        )

    def objects(self) -> dict[str, bytes]:
        return self.s3.objects(self.bucket, self.prefix)

    def index(self) -> dict[str, Any]:
        return json.loads(self.objects()["index.json"])  # type: ignore[no-any-return]

    def part_keys(self) -> list[str]:
        return [p["key"] for p in self.index()["parts"]]

    def put(self, key: str, data: bytes) -> None:
        self.s3.client().put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def delete(self, key: str) -> None:
        self.s3.client().delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def close(self) -> None:
        self.app.close()


def as_one_export(parts: list[bytes]) -> bytes:
    """The parts (gzip) put together as one export: every end record but the last cut off."""
    out = b""
    for i, part in enumerate(parts):
        plain = gzip.decompress(part)
        if i < len(parts) - 1:
            assert plain.splitlines()[-1].startswith(b'{"end":')
            plain = plain[: plain.rindex(b"\n", 0, len(plain) - 1) + 1]
        out += plain
    return out
