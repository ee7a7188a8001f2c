"""Who plays in the demo: local miners of different skills, committed at different blocks.

Each actor's model is a small folder published on the demo's loopback Hub: the local miner's
profile (`throne.miners.PROFILE_FILE`: name, revision, skill), a ``config.json`` and a weights
file whose bytes decide the model hash, so a copy, whose weights are byte-identical to its
original's, is caught by the copy rule through the hashes the Hub lists. The miner nobody can
serve holds no profile: the engine started on it exits at once.

Outcomes are deterministic (a miner's answers are a hash of its name, its profile's revision,
the env and the task; the Hub's commit shas follow from the order of publishing), so the demo
tells the same story every run: a cold start, dethronings, a copy, a malformed commitment, a
miner nobody can serve, and a challenger that falls short.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from throne.miners.profile import PROFILE_FILE, MinerProfile

#: the weights file of every demo model: an LFS file, whose sha256 the Hub lists
WEIGHTS_FILE = "model.safetensors"

Role = Literal["plays", "copy", "malformed", "down"]


@dataclass(frozen=True)
class Actor:
    name: str
    skill: float
    commit_offset: int
    role: Role = "plays"
    copy_of: str | None = None

    @property
    def hotkey(self) -> str:
        return f"5Demo{self.name.capitalize()}"

    @property
    def model(self) -> str:
        return f"local/affine-{self.name}-{self.hotkey}"

    @property
    def profile_revision(self) -> str:
        """The revision its local miner's draws are seeded with (not the Hub's commit)."""
        return hashlib.sha1(self.name.encode()).hexdigest()

    @property
    def published(self) -> bool:
        """Whether its model is on the Hub (a malformed commitment names none)."""
        return self.role != "malformed"

    def commitment(self, revision: str) -> str:
        """What it commits on chain: its model at ``revision``, the Hub commit."""
        if self.role == "malformed":
            return '{"model": "local/affine-' + self.name + '", "revision": '  # cut short
        return json.dumps({"model": self.model, "revision": revision})


CAST: tuple[Actor, ...] = (
    Actor("alpha", 0.30, 0),
    Actor("bravo", 0.70, 4),
    Actor("charlie", 0.70, 8, "copy", copy_of="bravo"),
    Actor("delta", 0.80, 12, "malformed"),
    Actor("echo", 0.90, 16, "down"),
    Actor("foxtrot", 0.95, 20),
    Actor("golf", 0.60, 24),
)


def model_files(actor: Actor) -> dict[str, bytes]:
    """The files of ``actor``'s model folder; a copy's weights are its original's bytes."""
    by_name = {a.name: a for a in CAST}
    source = by_name[actor.copy_of] if actor.copy_of else actor
    config = {"architectures": ["ThroneLocalMiner"], "model_type": "throne-local-miner"}
    files = {
        "config.json": json.dumps(config, indent=2).encode() + b"\n",
        WEIGHTS_FILE: hashlib.sha256(f"weights:{source.name}".encode()).digest() * 64,
    }
    if actor.role != "down":
        profile = MinerProfile(actor.name, actor.profile_revision, actor.skill)
        files[PROFILE_FILE] = profile.to_file()
    return files
