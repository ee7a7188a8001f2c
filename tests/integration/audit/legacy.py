"""Exports in format versions 1 and 2, laid out as throne wrote them before version 3, so that
tests can check they are still read (and what they cannot protect against)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from throne.audit.format import canonical_json, checkpoint_message
from throne.audit.links import GENESIS_HEAD, next_head
from throne.ports.signer import Signer

#: (id, originator, version, topic, payload) of one event
Event = tuple[int, str, int, str, Any]


def write_legacy_export(
    path: Path,
    events: Iterable[Event],
    signer: Signer,
    *,
    version: int = 1,
    checkpoint_every: int = 10,
    reveals: Mapping[int, str] | None = None,
) -> Path:
    """An export of ``events`` in the old layout: the header outside the hash chain,
    checkpoints without numbers, the end record unsigned; ``reveals`` on the final checkpoint."""
    header = {
        "application": "test",
        "checkpoint_every": checkpoint_every,
        "format": "throne-audit",
        "signer": signer.ss58_address,
        "version": version,
    }
    lines = [canonical_json(header)]
    head, count, last_id, since = GENESIS_HEAD, 0, 0, 0

    def checkpoint(extra: Mapping[int, str] | None = None) -> None:
        nonlocal since
        signature = signer.sign(checkpoint_message(count, last_id, head.hex()))
        record: dict[str, Any] = {
            "events": count,
            "head": head.hex(),
            "id": last_id,
            "signature": bytes(signature).hex(),
            "signer": signer.ss58_address,
        }
        if extra:
            record["reveals"] = {str(k): v for k, v in sorted(extra.items())}
        lines.append(canonical_json({"checkpoint": record}))
        since = 0

    for id, originator, v, topic, payload in events:
        line = canonical_json(
            {"id": id, "originator": originator, "payload": payload, "topic": topic, "version": v}
        )
        lines.append(line)
        head, count, last_id, since = next_head(head, line), count + 1, id, since + 1
        if count % checkpoint_every == 0:
            checkpoint()
    if since or reveals or not count:
        checkpoint(reveals)
    lines.append(canonical_json({"end": {"events": count, "head": head.hex()}}))
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path
