"""`audit`: where the log stands (its head), the last signed checkpoint when the log is
published, and the exact commands that verify it — the dashboard's audit page."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from throne.projections.read_side import ReadSide


def log_head(reads: ReadSide) -> dict[str, Any]:
    """The log's head: its highest notification id, the newest block the contest names and
    the contest's version."""
    head = reads.log_position
    with reads.read() as r:
        s = r.standings()
    return {
        "netuid": reads.netuid,
        "head": {"notification_id": head, "block": s.last_block, "contest_version": s.version},
    }


def audit(
    head: Mapping[str, Any], published: Mapping[str, Any] | None, db_hint: str = "URL"
) -> dict[str, Any]:
    """``head``: `log_head`; ``published``: `Publication.status` when the log is published
    (the commands then verify the bucket's copy), else None (the commands export the log and
    verify the file; ``db_hint`` is what the export names as its ``--db``)."""
    if published is not None:
        commands = list(published["verify_commands"])
    else:
        commands = [
            f"throne audit export --db {shlex.quote(db_hint)} --out throne-log.jsonl.gz",
            "throne audit verify throne-log.jsonl.gz",
        ]
    return {
        **head,
        "published": None if published is None else dict(published),
        "verify_commands": commands,
    }
