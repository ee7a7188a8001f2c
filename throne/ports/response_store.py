"""The `ResponseStore` port: miners' raw responses, addressed by their sha256.

``SampleScored`` carries only the digest of a response; the bytes are kept in a response store,
so that an auditor can re-score a sample and several sampling workers can share them.
"""

from __future__ import annotations

import hashlib
from typing import Protocol


class ResponseNotFound(KeyError):
    """No response is stored under this digest."""


class ResponseCorrupted(ValueError):
    """The stored bytes no longer hash to their digest."""


def digest_of(body: bytes) -> str:
    """The address of a response: lowercase hex sha256 of its raw bytes."""
    return hashlib.sha256(body).hexdigest()


class ResponseStore(Protocol):
    """Content-addressed storage of raw responses. ``put`` is idempotent. Adapters:
    `SqlResponseStore` (the log's database) and `InMemoryResponseStore` (a dict, for tests)."""

    def put(self, body: bytes) -> str:
        """Store ``body``; return its digest (`digest_of`)."""

    def get(self, digest: str) -> bytes:
        """The raw bytes stored under ``digest``: :class:`ResponseNotFound` if none,
        :class:`ResponseCorrupted` if what is stored no longer hashes to it."""

    def has(self, digest: str) -> bool:
        """Whether a response is stored under ``digest``."""
