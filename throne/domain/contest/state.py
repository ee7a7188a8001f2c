"""The records the contest holds and its decisions carry: who holds the crown, the battle in
progress, the task pool, and what a verdict was computed from.

All frozen: the contest's event handlers replace them (``attrs.evolve``), never change them.
Each has ``to_dict()`` and ``from_dict()``: the plain form snapshots and events store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import attrs


class Step(StrEnum):
    """What one step of the contest did (`Contest.tick`)."""

    POOL_REFRESHED = "pool_refreshed"
    CROWNED = "crowned"
    BATTLE_STARTED = "battle_started"
    RELEASED = "released"
    DETHRONED = "dethroned"
    TERMINATED = "terminated"


@attrs.frozen
class Champion:
    hotkey: str
    revision: str
    #: the block the crown was taken at
    since: int

    def to_dict(self) -> dict[str, object]:
        return {"hotkey": self.hotkey, "revision": self.revision, "since": self.since}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Champion:
        return cls(hotkey=d["hotkey"], revision=d["revision"], since=int(d["since"]))


@attrs.frozen
class Battle:
    hotkey: str
    revision: str
    started: int
    deadline: int
    pool: int
    #: the challenger's infra errors in this pool when the battle started
    infra_baseline: int = 0

    def past_deadline(self, block: int) -> bool:
        return block >= self.deadline

    def to_dict(self) -> dict[str, object]:
        return {
            "hotkey": self.hotkey,
            "revision": self.revision,
            "started": self.started,
            "deadline": self.deadline,
            "pool": self.pool,
            "infra_baseline": self.infra_baseline,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Battle:
        return cls(
            hotkey=d["hotkey"],
            revision=d["revision"],
            started=int(d["started"]),
            deadline=int(d["deadline"]),
            pool=int(d["pool"]),
            infra_baseline=int(d.get("infra_baseline", 0)),
        )


def _task_ids(value: Mapping[str, Sequence[int]]) -> dict[str, tuple[int, ...]]:
    return {env: tuple(ids) for env, ids in value.items()}


@attrs.frozen
class Pool:
    """The current task pool, without its seed (secret until the pool is retired)."""

    pool: int
    block: int
    seed_commitment: str
    task_ids: dict[str, tuple[int, ...]] = attrs.field(converter=_task_ids)
    # The same ids as sets, for membership: derived, so no part of equality or of what is stored.
    _sets: dict[str, frozenset[int]] = attrs.field(
        init=False,
        eq=False,
        repr=False,
        default=attrs.Factory(
            lambda self: {env: frozenset(ids) for env, ids in self.task_ids.items()},
            takes_self=True,
        ),
    )

    def ids(self, env: str) -> frozenset[int]:
        """The env's task ids (none for an env the pool does not draw)."""
        return self._sets.get(env, frozenset())

    def to_dict(self) -> dict[str, object]:
        return {
            "pool": self.pool,
            "block": self.block,
            "seed_commitment": self.seed_commitment,
            "task_ids": {env: list(ids) for env, ids in self.task_ids.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Pool:
        return cls(
            pool=int(d["pool"]),
            block=int(d["block"]),
            seed_commitment=d["seed_commitment"],
            task_ids=d["task_ids"],
        )


@attrs.frozen
class MinerRef:
    """A miner named in a decision: who it is and where it sat then."""

    hotkey: str
    revision: str | None
    uid: int | None

    def to_dict(self) -> dict[str, object]:
        return {"hotkey": self.hotkey, "revision": self.revision, "uid": self.uid}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MinerRef:
        return cls(hotkey=d["hotkey"], revision=d["revision"], uid=d["uid"])


@attrs.frozen
class DecisionInputs:
    """What a verdict was computed from: the scorecard versions each side was read at, and the
    rule that decided (``judge`` on complete evidence, or ``early_regression``)."""

    champion_scorecard_version: int
    challenger_scorecard_version: int
    rule: str

    def to_dict(self) -> dict[str, object]:
        return {
            "champion_scorecard_version": self.champion_scorecard_version,
            "challenger_scorecard_version": self.challenger_scorecard_version,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DecisionInputs:
        return cls(
            champion_scorecard_version=int(d["champion_scorecard_version"]),
            challenger_scorecard_version=int(d["challenger_scorecard_version"]),
            rule=str(d["rule"]),
        )
