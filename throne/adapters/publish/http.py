"""`HttpObjectReader`: a published log read over plain HTTP(S), from the public URL of its
index (a bucket with public read, a CDN in front of it, any static file server).

Keys are resolved relative to the index's URL, as the index names its parts
(``parts/000001-<sha256>.jsonl.gz`` beside ``index.json``). Reading needs no credentials and
no S3 client, only httpx.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx

from throne.ports.object_store import ObjectReader, StoredObject, StoreError

#: Seconds to connect, and to wait for each read of a part.
CONNECT_SECONDS = 10.0
READ_SECONDS = 60.0


def split_index_url(url: str) -> tuple[str, str]:
    """(the folder URL, the index's name) of an index's ``http(s)://`` URL; ``ValueError`` if
    it is no such URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s):// URL of an index: {url!r}")
    name = parts.path.rsplit("/", 1)[-1]
    if not name:
        raise ValueError(f"{url!r} names a folder: give the URL of its index.json")
    return urljoin(url, "."), name


class HttpObjectReader(ObjectReader):
    """The objects under ``base`` (an ``http(s)://`` folder URL ending in ``/``)."""

    def __init__(self, base: str, *, client: httpx.Client | None = None) -> None:
        self._base = base
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(READ_SECONDS, connect=CONNECT_SECONDS), follow_redirects=True
        )

    @property
    def where(self) -> str:
        return self._base

    def read(self, key: str) -> StoredObject | None:
        url = urljoin(self._base, key)
        try:
            answer = self._client.get(url)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise StoreError("unreachable", f"cannot fetch {url}: {reason}") from exc
        if answer.status_code == 404:
            return None
        if answer.status_code in (401, 403):
            raise StoreError(
                "credentials",
                f"{url} is not public ({answer.status_code}): is the bucket open for reading?",
            )
        if answer.status_code != 200:
            raise StoreError("refused", f"cannot fetch {url}: HTTP {answer.status_code}")
        return StoredObject(answer.content, answer.headers.get("etag"))

    def close(self) -> None:
        self._client.close()
