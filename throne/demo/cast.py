"""Who plays in the demo: local miners of different skills, committed at different blocks.

Outcomes are deterministic (a miner's answers are a hash of its name, env and task), so the
demo tells the same story every run: a cold start, dethronings, a copy, a malformed
commitment, a miner nobody can reach, and a challenger that falls short.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

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
    def revision(self) -> str:
        return hashlib.sha1(self.name.encode()).hexdigest()

    def commitment(self) -> str:
        if self.role == "malformed":
            return '{"model": "local/affine-' + self.name + '", "revision": '  # cut short
        return json.dumps({"model": self.model, "revision": self.revision})


CAST: tuple[Actor, ...] = (
    Actor("alpha", 0.30, 0),
    Actor("bravo", 0.70, 4),
    Actor("charlie", 0.70, 8, "copy", copy_of="bravo"),
    Actor("delta", 0.80, 12, "malformed"),
    Actor("echo", 0.90, 16, "down"),
    Actor("foxtrot", 0.95, 20),
    Actor("golf", 0.60, 24),
)


def model_hashes() -> dict[tuple[str, str], str]:
    """The weights hash of every actor's model; a copy shares its original's."""
    by_name = {a.name: a for a in CAST}
    out = {}
    for a in CAST:
        source = by_name[a.copy_of] if a.copy_of else a
        out[(a.model, a.revision)] = hashlib.sha256(f"weights:{source.name}".encode()).hexdigest()
    return out
