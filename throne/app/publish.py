"""Publishing the signed log (``throne publish``, ``[publish]``, ``audit verify s3://...``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from throne.app.chain import open_signer_client
from throne.ports.object_store import ObjectReader, ObjectStore
from throne.ports.signer import Signer

if TYPE_CHECKING:
    from throne.adapters.storage.database import Database
    from throne.daemon.settings import Settings
    from throne.daemon.supervisor import Loop
    from throne.observability.publication import PublishTarget


def publish_target(settings: Settings) -> PublishTarget | None:
    """Where ``[publish]`` publishes the log, for the dashboard's audit page (None: nowhere)."""
    from throne.observability.publication import PublishTarget

    p = settings.publish
    return PublishTarget(p.to, p.endpoint_url, p.region, p.index_url) if p.to else None


def open_object_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    reading: bool = False,
) -> ObjectStore:
    """The bucket folder ``s3://BUCKET/PREFIX`` the log is published to; credentials and the
    endpoint from the AWS variables unless given (``reading``: anonymously when there are no
    credentials, as of a public bucket). ``ValueError`` for a URL that is no such."""
    from throne.adapters.publish.s3 import S3ObjectStore
    from throne.ports.object_store import S3Location

    return S3ObjectStore(
        S3Location.parse(url),
        endpoint_url=endpoint_url,
        region=region,
        anonymous=None if reading else False,
    )


def open_published_log(
    url: str, *, endpoint_url: str | None = None, region: str | None = None
) -> tuple[ObjectReader, str]:
    """(the reader, the index's key) of a published log named by ``s3://BUCKET/PREFIX`` (read
    anonymously when no credentials are configured) or by the ``http(s)://`` URL of its
    index. ``ValueError`` for a URL that is neither."""
    from throne.audit.published import INDEX_KEY

    if url.startswith("s3://"):
        store = open_object_store(url, endpoint_url=endpoint_url, region=region, reading=True)
        return store, INDEX_KEY
    from throne.adapters.publish.http import HttpObjectReader, split_index_url

    base, name = split_index_url(url)
    return HttpObjectReader(base), name


def open_publish_loop(
    settings: Settings, db: Database, current_block: Callable[[], int]
) -> Loop | None:
    """The daemon's publisher (`throne.daemon.publishing`) of ``[publish]``: the log of ``db``
    to ``to`` every ``every_blocks`` of ``current_block``; None when ``to`` is empty. The key
    is loaded here, so that a bad one stops the start."""
    p = settings.publish
    if not p.to:
        return None
    from functools import partial

    from throne.audit.publisher import publish
    from throne.audit.signing import load_signer
    from throne.daemon.publishing import PublishLoop

    store = open_object_store(p.to, endpoint_url=p.endpoint_url or None, region=p.region or None)
    # Behind a signer the daemon holds no key: the signer signs the parts' checkpoints.
    v = settings.validator
    signer: Signer = (
        open_signer_client(v)
        if v.signer_url
        else load_signer(Path(p.key).expanduser() if p.key else None)
    )
    loop = PublishLoop(
        partial(publish, db, store, signer),
        every_blocks=p.every_blocks,
        current_block=current_block,
        poll_seconds=settings.validator.poll_seconds,
    )
    return loop.run
