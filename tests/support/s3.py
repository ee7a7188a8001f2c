"""An S3-compatible server on loopback for the tests of publishing: moto's own server, over
real HTTP, started once per test session; each test gets a bucket of its own.

moto keeps its buckets in this process, and checks no credentials unless told to:
:meth:`S3Server.enforcing_credentials` makes it refuse every key it does not know, for as
long as a block runs.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from starlette.requests import Request
from starlette.responses import Response

#: The keys every test uses: moto accepts any while it checks none.
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class S3Server:
    url: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=KEYS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=KEYS["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        name = f"log-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def open_for_reading(self, bucket: str) -> None:
        """Let anyone read the bucket's objects over plain HTTP, as a published log's is."""
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
        self.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix`` of ``bucket``, by key (relative to the prefix)."""
        client = self.client()
        found = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return {
            o["Key"][len(prefix) :]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in found
        }

    @contextmanager
    def enforcing_credentials(self) -> Iterator[None]:
        """moto refuses keys it does not know (all of them: it holds no IAM user)."""
        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0").raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.url}/moto-api/reset-auth", content=b"inf").raise_for_status()


@contextmanager
def s3_server() -> Iterator[S3Server]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()


def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The test's keys in the AWS variables, and no AWS config file of the machine's."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


NOT_IMPLEMENTED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A '
    b"header you provided implies functionality that is not implemented</Message></Error>"
)


#: What a bucket over its quota answers a write (MinIO's code; S3 and R2 name theirs alike).
QUOTA_EXCEEDED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>XMinioAdminBucketQuotaExceeded'
    b"</Code><Message>Bucket quota exceeded</Message></Error>"
)


def without_conditional_writes(upstream: str) -> Any:
    """An S3 endpoint that forwards to ``upstream`` but answers 501 to conditional writes."""
    return _refusing(upstream, conditional_only=True)


def full_bucket(upstream: str) -> Any:
    """An S3 endpoint that forwards reads to ``upstream`` and answers every write as a bucket
    over its quota does (moto keeps no quota of its own)."""
    return _refusing(upstream, conditional_only=False)


def _refusing(upstream: str, *, conditional_only: bool) -> Any:
    client = httpx.AsyncClient(base_url=upstream)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()  # read whole, whatever the answer: the connection goes on
        conditional = "if-none-match" in request.headers or "if-match" in request.headers
        if request.method == "PUT" and conditional_only and conditional:
            answer = Response(NOT_IMPLEMENTED, 501, media_type="application/xml")
        elif request.method == "PUT" and not conditional_only:
            answer = Response(QUOTA_EXCEEDED, 507, media_type="application/xml")
        else:
            headers = {k: v for k, v in request.headers.items() if k != "host"}
            sent = await client.request(
                request.method,
                request.url.path,
                params=request.url.query,
                headers=headers,
                content=body,
            )
            kept = {k: v for k, v in sent.headers.items() if k.lower() not in _HOP}
            answer = Response(sent.content, sent.status_code, headers=kept)
        await answer(scope, receive, send)

    return app


_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding", "date", "server"}
