"""Miner records as the contest holds them, and the queue order.

A miner's identity is ``(hotkey, revision)``; its uid is only where it sits now (None when
deregistered). Records are plain dicts inside the aggregate (so snapshots stay transcodable);
`MinerView` is the frozen read of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["queued", "battling", "champion", "terminated"]


@dataclass(frozen=True)
class MinerView:
    hotkey: str
    uid: int | None
    model: str | None
    revision: str | None
    first_block: int
    status: Status
    invalid_reason: str | None
    terminated_reason: str | None
    releases: int
    model_hash: str | None

    @property
    def valid(self) -> bool:
        return self.invalid_reason is None

    @property
    def eligible(self) -> bool:
        """May battle next: valid, registered, committed and never terminated."""
        return (
            self.valid
            and self.uid is not None
            and self.revision is not None
            and self.status == "queued"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "hotkey": self.hotkey,
            "uid": self.uid,
            "model": self.model,
            "revision": self.revision,
            "first_block": self.first_block,
            "status": self.status,
            "invalid_reason": self.invalid_reason,
            "terminated_reason": self.terminated_reason,
            "releases": self.releases,
            "model_hash": self.model_hash,
        }


def new_record(
    uid: int | None,
    model: str | None,
    revision: str | None,
    first_block: int,
    text_digest: str | None,
) -> dict[str, Any]:
    """A miner as the contest first records it: queued, valid, never released."""
    return {
        "uid": uid,
        "model": model,
        "revision": revision,
        "first_block": first_block,
        "status": "queued",
        "invalid_reason": None,
        "terminated_reason": None,
        "releases": 0,
        "model_hash": None,
        "text_digest": text_digest,
    }


def view(hotkey: str, record: Mapping[str, Any]) -> MinerView:
    return MinerView(
        hotkey=hotkey,
        uid=record["uid"],
        model=record["model"],
        revision=record["revision"],
        first_block=record["first_block"],
        status=record["status"],
        invalid_reason=record["invalid_reason"],
        terminated_reason=record["terminated_reason"],
        releases=record["releases"],
        model_hash=record["model_hash"],
    )


def queue_order(miners: Iterable[MinerView]) -> list[MinerView]:
    """Eligible miners by ``(first_block, uid)``: the head battles next."""
    eligible = [m for m in miners if m.eligible]
    return sorted(eligible, key=lambda m: (m.first_block, m.uid if m.uid is not None else -1))
