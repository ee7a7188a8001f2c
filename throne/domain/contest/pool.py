"""Task pools: how many ids per env, when the champion is complete, and which ids a seed gives.

``derive_task_ids`` is the documented, pure derivation an auditor re-runs on a revealed seed:

- ``latest``: the ``count`` largest ids of ``[start, stop)``.
- ``random``: a counter-mode SHA-256 stream. Block ``i`` (i = 0, 1, ...) is
  ``sha256(b"throne-pool-v1" 00 seed 00 env-utf8 00 i-as-8-bytes-big-endian)``;
  its first 8 bytes, big-endian, give ``x``; with ``span = stop - start``, ``x`` is rejected
  when ``x >= floor(2**64 / span) * span`` (no modulo bias), else the candidate is
  ``start + x % span``; duplicates are skipped; the first ``count`` distinct candidates,
  sorted ascending, are the pool.

``task_order`` is the order a battle compares a pool's tasks in (pools of configurations with
``evidence = "prefix"`` store their ids in it): ascending by
``sha256(b"throne-order-v1" 00 seed 00 env-utf8 00 id-as-8-bytes-big-endian)``, ties (never
seen) by id. Fixed by the seed before any sample exists, so no outcome can choose what counts.
"""

from __future__ import annotations

import hashlib
import math
from typing import Literal

PoolMode = Literal["random", "latest"]
_DOMAIN = b"throne-pool-v1"
_ORDER_DOMAIN = b"throne-order-v1"


class PoolTooLarge(ValueError):
    """More ids asked for than the env's id range holds."""


def pool_size(sampling_count: int) -> int:
    """``ceil(sampling_count * 1.1)`` in float math: 200 -> 221, 100 -> 111, 300 -> 330."""
    return math.ceil(sampling_count * 1.1)


def completeness_threshold(size: int, completeness: float = 0.95) -> int:
    """Tasks the champion must have scored in an env before a battle: 221 -> 210, 111 -> 106."""
    return math.ceil(size * completeness)


def seed_commitment(seed: bytes) -> str:
    """The public commitment to a pool seed: its SHA-256, hex."""
    return hashlib.sha256(seed).hexdigest()


def derive_task_ids(
    seed: bytes, env: str, count: int, id_range: tuple[int, int], mode: PoolMode
) -> list[int]:
    start, stop = id_range
    span = stop - start
    if count < 0 or span <= 0 or count > span:
        raise PoolTooLarge(f"{env}: {count} ids asked for from [{start}, {stop})")
    if mode == "latest":
        return list(range(stop - count, stop))
    if mode != "random":
        raise ValueError(f"{env}: unknown pool mode {mode!r}")
    limit = (2**64 // span) * span
    prefix = b"\x00".join((_DOMAIN, seed, env.encode("utf-8"))) + b"\x00"
    chosen: set[int] = set()
    counter = 0
    while len(chosen) < count:
        digest = hashlib.sha256(prefix + counter.to_bytes(8, "big")).digest()
        counter += 1
        x = int.from_bytes(digest[:8], "big")
        if x < limit:
            chosen.add(start + x % span)
    return sorted(chosen)


def task_order(seed: bytes, env: str, task_ids: list[int]) -> list[int]:
    prefix = b"\x00".join((_ORDER_DOMAIN, seed, env.encode("utf-8"))) + b"\x00"

    def key(task_id: int) -> tuple[bytes, int]:
        return hashlib.sha256(prefix + task_id.to_bytes(8, "big")).digest(), task_id

    return sorted(task_ids, key=key)


def pool_task_ids(
    seed: bytes,
    env: str,
    count: int,
    id_range: tuple[int, int],
    mode: PoolMode,
    *,
    ordered: bool,
) -> list[int]:
    """A pool's ids for one env as the log stores them: in `task_order` when ``ordered``,
    else ascending (pools of logs written before the order existed)."""
    ids = derive_task_ids(seed, env, count, id_range, mode)
    return task_order(seed, env, ids) if ordered else ids
