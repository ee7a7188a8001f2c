"""What a miner writes on chain, and how it is cut into the Commitments pallet's Raw fields.

The payload is compact JSON ``{"model": repo, "revision": sha}``. The pallet stores fields
``Raw0``..``Raw128`` of at most 128 bytes each; readers join the fields' bytes in order.
"""

from __future__ import annotations

import json

RAW_FIELD_BYTES = 128


def commitment_text(repo: str, revision: str) -> str:
    """The commitment a miner publishes for a Hugging Face ``(repo, revision)``."""
    return json.dumps({"model": repo, "revision": revision}, separators=(",", ":"))


def raw_chunks(text: str) -> list[bytes]:
    """``text`` as UTF-8 cut into pieces of at most 128 bytes (a character may straddle two)."""
    data = text.encode("utf-8")
    if not data:
        raise ValueError("a commitment cannot be empty")
    return [data[i : i + RAW_FIELD_BYTES] for i in range(0, len(data), RAW_FIELD_BYTES)]


def raw_fields(text: str) -> list[dict[str, bytes]]:
    """The ``fields`` list of a ``CommitmentInfo``: one ``{"RawN": chunk}`` per chunk."""
    return [{f"Raw{len(chunk)}": chunk} for chunk in raw_chunks(text)]
