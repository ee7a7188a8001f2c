"""Exports rewritten and re-signed by the key holder: what a validator rewriting its own
history would publish. Only the replay's recomputations (and the order of versions) can betray
such a file, since its hash chain and signatures are genuine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from throne.audit.export import ChainWriter
from throne.audit.format import DEFAULT_CHECKPOINT_EVERY
from throne.audit.reading import read_export_lines
from throne.ports.signer import Signer

Events = list[dict[str, Any]]


def events_of(path: Path) -> Events:
    """The event records of an export, in order."""
    return [r for r in (json.loads(line) for _, line in read_export_lines(path)) if "id" in r]


def forge(
    path: Path,
    out: Path,
    signer: Signer,
    rewrite: Callable[[Events], Events],
    *,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
) -> Path:
    """Write to ``out`` the events of the export at ``path`` as ``rewrite`` returns them,
    with a fresh hash chain signed by ``signer``."""
    with out.open("wb") as f:
        writer = ChainWriter(f, signer, application="throne", checkpoint_every=checkpoint_every)
        for r in rewrite(events_of(path)):
            writer.event(r["id"], r["originator"], r["version"], r["topic"], r["payload"])
        writer.close()
    return out
