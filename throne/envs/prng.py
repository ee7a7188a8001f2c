"""A portable pseudo-random stream: SHAKE-256 in counter mode, keyed by blake2b.

Tasks must be the same on every machine and every Python version, so nothing here touches
CPython's ``random`` (its seeding and algorithms are implementation details). A `Stream` is
keyed by a string such as ``"SAT:1:42"``; its bytes are ``shake_256(key || counter)`` blocks of
`BLOCK` bytes, consumed in order.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

BLOCK = 1024
_WORDS = struct.Struct(f">{BLOCK // 8}Q")


class Stream:
    """Deterministic draws from one key. Unbiased integers via rejection sampling."""

    def __init__(self, key: str) -> None:
        self._key = hashlib.blake2b(key.encode("utf-8"), digest_size=32).digest()
        self._counter = 0
        self._pool: tuple[int, ...] = ()
        self._pos = 0

    def child(self, label: str) -> Stream:
        """An independent stream, so that adding draws in one part never shifts another."""
        return Stream(f"{self._key.hex()}/{label}")

    def u64(self) -> int:
        """The next 8 bytes of the stream as a big-endian integer."""
        pos = self._pos
        if pos >= len(self._pool):
            block = hashlib.shake_256(self._key + self._counter.to_bytes(8, "big")).digest(BLOCK)
            self._pool = _WORDS.unpack(block)
            self._counter += 1
            pos = 0
        self._pos = pos + 1
        return self._pool[pos]

    def below(self, n: int) -> int:
        """Uniform in ``[0, n)``."""
        if n <= 0:
            raise ValueError("below() needs a positive bound")
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            x = self.u64()
            if x < limit:
                return x % n

    def between(self, lo: int, hi: int) -> int:
        """Uniform in ``[lo, hi]`` (both ends included)."""
        return lo + self.below(hi - lo + 1)

    def coin(self) -> bool:
        return self.u64() & 1 == 1

    def choice(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        """``k`` distinct items, in draw order (a partial Fisher-Yates shuffle)."""
        pool = list(items)
        if not 0 <= k <= len(pool):
            raise ValueError("sample size out of range")
        for i in range(k):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def shuffled(self, items: Sequence[T]) -> list[T]:
        return self.sample(items, len(items))


def task_stream(env: str, version: str, task_id: int) -> Stream:
    """The stream a task draws from: a pure function of (env, version, task_id)."""
    return Stream(f"{env}:{version}:{task_id}")
