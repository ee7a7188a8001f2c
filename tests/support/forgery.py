"""Exports rewritten and re-signed by the key holder: what a validator rewriting its own
history would publish. Only the replay's recomputations (and the order of versions) can betray
such a file, since its links and signatures are genuine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from throne.audit.format import DEFAULT_CHECKPOINT_EVERY
from throne.audit.reader import numbered_lines
from throne.audit.records import ExportedEvent
from throne.audit.sources import export_source
from throne.audit.writer import ExportWriter
from throne.ports.signer import Signer

Events = list[dict[str, Any]]


def events_of(path: Path) -> Events:
    """The event records of an export, in order."""
    lines = numbered_lines(export_source(path))
    return [r for r in (json.loads(line) for _, line in lines) if "id" in r]


def forge(
    path: Path,
    out: Path,
    signer: Signer,
    rewrite: Callable[[Events], Events],
    *,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
) -> Path:
    """Write to ``out`` the events of the export at ``path`` as ``rewrite`` returns them,
    with fresh links signed by ``signer``."""
    with out.open("wb") as f:
        writer = ExportWriter(f, signer, application="throne", checkpoint_every=checkpoint_every)
        for r in rewrite(events_of(path)):
            writer.write(ExportedEvent.parse(r))
        writer.close()
    return out
