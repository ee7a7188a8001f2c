"""Miner records as the contest holds them, and the queue order.

A miner's identity is ``(hotkey, revision)``; its uid is only where it sits now (None when
deregistered). A `MinerRecord` is frozen: the contest's event handlers replace it with
``attrs.evolve``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import attrs


class Status(StrEnum):
    """Where a miner is in its one shot: waiting, battling, on the throne, or done for good."""

    QUEUED = "queued"
    BATTLING = "battling"
    CHAMPION = "champion"
    TERMINATED = "terminated"


_STATUSES = {s.value: s for s in Status}


@attrs.frozen
class MinerRecord:
    """A miner as the contest first records it is queued, valid and never released."""

    hotkey: str
    uid: int | None
    model: str | None
    revision: str | None
    first_block: int
    status: Status = Status.QUEUED
    invalid_reason: str | None = None
    terminated_reason: str | None = None
    releases: int = 0
    model_hash: str | None = None
    #: the digest of the commitment text first seen, to tell a second commitment apart
    text_digest: str | None = None
    #: the operator's reason while the hotkey is blacklisted (`throne.domain.contest.operator`)
    blacklisted: str | None = None

    @property
    def valid(self) -> bool:
        return self.invalid_reason is None

    @property
    def paid(self) -> bool:
        """Earns the champion's weight: valid and not blacklisted."""
        return self.valid and self.blacklisted is None

    @property
    def eligible(self) -> bool:
        """May battle next: valid, not blacklisted, registered, committed and never
        terminated."""
        return (
            self.valid
            and self.blacklisted is None
            and self.uid is not None
            and self.revision is not None
            and self.status is Status.QUEUED
        )

    def to_dict(self) -> dict[str, Any]:
        """The miner as reads show it (the commitment's digest is no part of it)."""
        return {
            "hotkey": self.hotkey,
            "uid": self.uid,
            "model": self.model,
            "revision": self.revision,
            "first_block": self.first_block,
            "status": self.status.value,
            "invalid_reason": self.invalid_reason,
            "terminated_reason": self.terminated_reason,
            "releases": self.releases,
            "model_hash": self.model_hash,
            "blacklisted": self.blacklisted,
        }

    def row(self) -> list[object]:
        """Every field in order, as snapshots store it: a contest holds hundreds of miners, and
        a row reads back several times faster than an object."""
        return [
            self.hotkey,
            self.uid,
            self.model,
            self.revision,
            self.first_block,
            self.status.value,
            self.invalid_reason,
            self.terminated_reason,
            self.releases,
            self.model_hash,
            self.text_digest,
            self.blacklisted,
        ]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> MinerRecord:
        hotkey, uid, model, revision, first_block, status, invalid, terminated, *rest = row
        # Rows stored before blacklists existed end at the commitment's digest.
        releases, model_hash, text_digest, *blacklisted = rest
        return cls(
            hotkey,
            uid,
            model,
            revision,
            first_block,
            _STATUSES[status],
            invalid,
            terminated,
            releases,
            model_hash,
            text_digest,
            blacklisted[0] if blacklisted else None,
        )

    @classmethod
    def from_state(cls, hotkey: str, d: Mapping[str, Any]) -> MinerRecord:
        """A miner as snapshots stored it when records were plain dicts."""
        return cls(
            hotkey=hotkey,
            uid=d["uid"],
            model=d["model"],
            revision=d["revision"],
            first_block=int(d["first_block"]),
            status=Status(d["status"]),
            invalid_reason=d["invalid_reason"],
            terminated_reason=d["terminated_reason"],
            releases=int(d["releases"]),
            model_hash=d["model_hash"],
            text_digest=d.get("text_digest"),
        )


def queue_order(miners: Iterable[MinerRecord]) -> list[MinerRecord]:
    """Eligible miners by ``(first_block, uid)``: the head battles next."""
    eligible = [m for m in miners if m.eligible]
    return sorted(eligible, key=lambda m: (m.first_block, m.uid if m.uid is not None else -1))


def copies(miners: Iterable[MinerRecord]) -> list[tuple[str, str]]:
    """``(copy, original)`` hotkeys of each valid miner whose model hash an earlier committer
    holds: the earliest by ``(first_block, uid, hotkey)`` keeps a hash (valid or not), later ones
    are copies."""
    ordered = sorted(
        (m for m in miners if m.model_hash is not None),
        key=lambda m: (m.first_block, m.uid if m.uid is not None else -1, m.hotkey),
    )
    first_of: dict[str, str] = {}
    out = []
    for m in ordered:
        assert m.model_hash is not None
        original = first_of.setdefault(m.model_hash, m.hotkey)
        if original != m.hotkey and m.valid:
            out.append((m.hotkey, original))
    return out
