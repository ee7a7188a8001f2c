"""`weights`: the vector the contest gives now, and the last submission recorded in the log."""

from __future__ import annotations

from typing import Any

from throne.projections.read_side import ReadSide
from throne.views.standings import standings as shape_standings


def weights(reads: ReadSide) -> dict[str, Any]:
    with reads.read() as r:
        s = r.standings()
        burn = r.config.burn
        last = r.last_submission()
    champion = shape_standings(s)["champion"]
    return {
        "netuid": reads.netuid,
        "contest_version": s.version,
        "burn": burn,
        "champion": None
        if champion is None
        else {k: champion[k] for k in ("hotkey", "uid", "revision", "since_block")},
        "weights": {str(uid): w for uid, w in sorted(s.weights().items())},
        "last_submission": last,
    }


def submissions(reads: ReadSide) -> dict[str, Any]:
    """Every weight submission the log records, landed or failed, oldest first; each carries
    its ``number`` (1 for the first)."""
    with reads.read() as r:
        every = r.submissions()
    return {
        "netuid": reads.netuid,
        "submissions": [{"number": i, **s} for i, s in enumerate(every, start=1)],
    }
