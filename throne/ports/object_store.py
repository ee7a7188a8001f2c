"""The `ObjectStore` port: S3-compatible storage the signed log is published to, and the
`ObjectReader` an auditor reads it back through (the same store, or its public HTTP URL).

A published log is a set of immutable parts and one index that names them
(`throne.audit.published`); the store only has to keep bytes under keys. Writes that must not
clobber (a part, the index someone else just moved on) are conditional where the store
supports it (``If-None-Match``, ``If-Match``); an adapter whose store does not falls back to a
read before the write and says so in `ObjectStore.conditional`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

#: What a `StoreError` can be about, so that a caller (the daemon's log line, the CLI) names the
#: cause: keys refused or missing, no such bucket, the bucket full or over its quota, the
#: endpoint unreachable, a conditional write that lost to another writer, anything else.
STORE_ERROR_KINDS = ("credentials", "no-bucket", "quota", "unreachable", "conflict", "refused")


class StoreError(Exception):
    """A store that refused or could not be reached; the message is one line naming the cause."""

    def __init__(self, kind: str, message: str) -> None:
        assert kind in STORE_ERROR_KINDS, kind
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes, and the tag a conditional write of the same key compares with."""

    data: bytes
    etag: str | None = None


@dataclass(frozen=True)
class S3Location:
    """``s3://BUCKET/PREFIX``: a bucket, and the folder of it the log is published in."""

    bucket: str
    #: "" or a folder ending in "/"
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """The location an ``s3://`` URL names; ``ValueError`` (one line) if it names none."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://BUCKET/PREFIX URL: {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"an s3:// URL takes no query or fragment: {url!r}")
        prefix = parts.path.strip("/")
        return cls(parts.netloc, prefix + "/" if prefix else "")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class ObjectReader(Protocol):
    """Reads objects by key, relative to where the log is published."""

    @property
    def where(self) -> str:
        """Where the objects are, as a reader names it (an ``s3://`` or ``https://`` URL)."""

    def read(self, key: str) -> StoredObject | None:
        """The object at ``key``; None when there is none. Raises `StoreError`."""


class ObjectStore(Protocol):
    """Keeps bytes under keys, relative to a prefix. Every method raises `StoreError`."""

    @property
    def where(self) -> str:
        """Where the objects are (``s3://BUCKET/PREFIX``)."""

    @property
    def conditional(self) -> bool:
        """Whether the store has honoured conditional writes so far (False once it refused
        one and the adapter fell back to reading before writing)."""

    def read(self, key: str) -> StoredObject | None:
        """The object at ``key``; None when there is none."""

    def create(self, key: str, data: bytes) -> bool:
        """Write ``data`` at ``key`` unless an object is there already; False if one was (it
        is left as it is)."""

    def replace(self, key: str, data: bytes, *, expected: str | None) -> str | None:
        """Write ``data`` at ``key`` if the object there still has the tag ``expected`` (None:
        if there is no object yet); return the new tag. A `StoreError` of kind ``conflict``
        when another writer moved it on."""

    def keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, in order."""

    def delete(self, key: str) -> None:
        """Remove the object at ``key`` (nothing if there is none)."""
