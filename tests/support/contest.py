"""A small driver for the application service, shared by unit and property tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from throne.application import RecordReport, ThroneApplication
from throne.domain.contest.config import ContestConfig, EnvConfig
from throne.domain.contest.samples import Sample
from throne.domain.queue.snapshot import ChainSnapshot, Commitment, Neuron
from throne.projections.read_side import ReadSide
from throne.views.standings import standings


def small_config(**overrides: object) -> ContestConfig:
    base: dict[str, object] = {
        "envs": (EnvConfig("SAT", 4, (0, 40)), EnvConfig("ABD", 4, (0, 40))),
        "refresh_blocks": 100,
        "battle_deadline_blocks": 50,
        "release_after_infra_errors": 3,
    }
    base.update(overrides)
    return ContestConfig(**base)  # type: ignore[arg-type]


def commitment_text(hotkey: str, revision: str = "r1", model: str | None = None) -> str:
    return json.dumps({"model": model or f"org/affine-{hotkey}", "revision": revision})


Skill = Callable[[str, int], float]


def fixed(score: float) -> Skill:
    return lambda env, task: score


def fraction(p: float) -> Skill:
    """Scores 1 on a deterministic fraction ``p`` of tasks."""
    return lambda env, task: 1.0 if (task * 7919 + len(env)) % 100 < p * 100 else 0.0


@dataclass
class Chain:
    """A tiny chain state: who is registered where, and what each hotkey committed."""

    block: int = 1
    neurons: dict[str, int] = field(default_factory=dict)
    commitments: dict[str, tuple[int, str]] = field(default_factory=dict)
    hashes: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (model, revision) -> the model hub's reason it can never be served
    invalid: dict[tuple[str, str], str] = field(default_factory=dict)

    def register(self, hotkey: str, uid: int | None = None) -> int:
        if uid is None:
            used = set(self.neurons.values())
            uid = next(u for u in range(1, 1000) if u not in used)
        self.neurons[hotkey] = uid
        return uid

    def commit(self, hotkey: str, text: str | None = None, block: int | None = None) -> None:
        self.commitments[hotkey] = (
            self.block if block is None else block,
            text or commitment_text(hotkey),
        )

    def snapshot(self) -> ChainSnapshot:
        return ChainSnapshot(
            block=self.block,
            neurons=tuple(Neuron(uid, hk) for hk, uid in self.neurons.items()),
            commitments=tuple(Commitment(hk, b, t) for hk, (b, t) in self.commitments.items()),
            model_hashes=tuple((m, r, h) for (m, r), h in self.hashes.items()),
            model_invalid=tuple((m, r, why) for (m, r), why in self.invalid.items()),
        )


def read_standings(app: ThroneApplication) -> dict[str, Any]:
    """The standings of ``app``'s log (`throne.views.standings`), read through a new read side."""
    reads = ReadSide(app)
    try:
        with reads.read() as r:
            return standings(r.standings())
    finally:
        reads.close()


def read_miner(app: ThroneApplication, hotkey: str) -> dict[str, Any] | None:
    """The record of ``hotkey`` in ``app``'s log, read through a new read side."""
    reads = ReadSide(app)
    try:
        with reads.read() as r:
            found = r.standings().miner(hotkey)
    finally:
        reads.close()
    return None if found is None else found.to_dict()


class Driver:
    def __init__(self, config: ContestConfig | None = None, app: ThroneApplication | None = None):
        self.config = config or small_config()
        self.app = app or ThroneApplication(self.config)
        self.reads = ReadSide(self.app)
        self.chain = Chain()

    def join(self, hotkey: str, block: int | None = None, uid: int | None = None) -> None:
        self.chain.register(hotkey, uid)
        self.chain.commit(hotkey, block=block)

    def sync(self) -> int:
        return self.app.observe_chain(self.chain.snapshot())

    def tick(
        self,
        block: int | None = None,
        seed: bytes = b"seed",
        ready: Callable[[str, str], bool] | None = None,
    ) -> list[str]:
        if block is not None:
            self.chain.block = block
        return self.app.tick(self.chain.block, seed + str(self.chain.block).encode(), ready)

    def score(self, skills: dict[str, Skill], outcome: str = "ok") -> RecordReport:
        """Score every pending work item with the given skills (missing hotkeys are skipped)."""
        batch = []
        for w in self.app.pending_work():
            if w.hotkey not in skills:
                continue
            s = skills[w.hotkey](w.env, w.task_id) if outcome == "ok" else 0.0
            batch.append(
                Sample(
                    w.pool, w.env, w.task_id, w.hotkey, w.revision, s, outcome, attempt=w.attempt
                )  # type: ignore[arg-type]
            )
        return self.app.record_samples(batch)

    # ---- what the log says, through the read side -------------------------------------------

    def standings(self) -> dict[str, Any]:
        with self.reads.read() as r:
            return standings(r.standings())

    def miner(self, hotkey: str) -> dict[str, Any] | None:
        with self.reads.read() as r:
            found = r.standings().miner(hotkey)
        return None if found is None else found.to_dict()

    def miners(self) -> list[dict[str, Any]]:
        with self.reads.read() as r:
            return [m.to_dict() for m in r.standings().miners]

    def pool(self) -> dict[str, Any] | None:
        """The current pool without its seed (secret until the pool is retired)."""
        with self.reads.read() as r:
            pool = r.standings().pool
        return None if pool is None else pool.to_dict()

    def status(self, hotkey: str) -> str:
        m = self.miner(hotkey)
        assert m is not None
        return str(m["status"])

    def reason(self, hotkey: str) -> str | None:
        m = self.miner(hotkey)
        assert m is not None
        return m["terminated_reason"]  # type: ignore[no-any-return]

    def champion(self) -> str | None:
        c = self.standings()["champion"]
        return None if c is None else str(c["hotkey"])

    def challenger(self) -> str | None:
        b = self.standings()["battle"]
        return None if b is None else str(b["hotkey"])
