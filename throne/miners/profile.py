"""Who a local miner is, how good it is, and what faults it injects."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The file of a model folder that names the local miner it holds (`MinerProfile.from_dir`).
PROFILE_FILE = "throne-miner.json"
NESTED_DEPTH = 1100
"""How deep a ``nested_rate`` answer nests: past the standard library parser's recursion limit."""


@dataclass(frozen=True)
class Faults:
    """Faults injected before answering; rates are per request, in [0, 1].

    ``latency_ms`` ± ``latency_jitter_ms`` (uniform) delays every answer. ``fail_first`` makes
    the first N requests answer 503, so a retry can be seen to succeed. ``error_rate`` answers
    500, ``rate_limit_rate`` answers 429 with ``Retry-After: retry_after``, ``hang_rate`` never
    answers, ``malformed_rate`` answers 200 with a truncated JSON body, ``nested_rate`` answers
    200 with a JSON body nested `NESTED_DEPTH` levels deep (2.2 KB that once stalled a contest).
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    fail_first: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float | None = 1.0
    hang_rate: float = 0.0
    malformed_rate: float = 0.0
    nested_rate: float = 0.0

    def __post_init__(self) -> None:
        rates = (
            self.error_rate,
            self.rate_limit_rate,
            self.hang_rate,
            self.malformed_rate,
            self.nested_rate,
        )
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must lie in [0, 1] and sum to at most 1")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0 or self.fail_first < 0:
            raise ValueError("latency and fail_first must not be negative")

    def latency(self, rng: random.Random) -> float:
        """One delay in seconds."""
        jitter = rng.uniform(-self.latency_jitter_ms, self.latency_jitter_ms)
        return max(0.0, self.latency_ms + jitter) / 1000.0


class NoMinerProfile(ValueError):
    """A model folder that holds no readable local-miner profile: an engine cannot serve it."""


@dataclass(frozen=True)
class MinerProfile:
    """A local miner: served under ``name`` (or ``served_as``); ``skill`` is its chance to
    solve a task.

    ``name`` and ``revision`` seed its draws; ``served_as`` only changes the model name it
    answers to, so one miner gives the same answers whatever a host calls it.
    """

    name: str
    revision: str = "main"
    skill: float = 1.0
    faults: Faults = field(default_factory=Faults)
    served_as: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.skill <= 1.0:
            raise ValueError(f"skill must lie in [0, 1], got {self.skill}")

    @property
    def served_name(self) -> str:
        """The model name requests ask for."""
        return self.served_as or self.name

    def to_file(self) -> bytes:
        """The `PROFILE_FILE` of a model folder holding this miner (faults are not kept)."""
        body = {"name": self.name, "revision": self.revision, "skill": self.skill}
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_dir(cls, directory: Path, faults: Faults | None = None) -> MinerProfile:
        """The miner a model folder holds, as its `PROFILE_FILE` names it: what an engine
        loads when a host serves that folder."""
        path = Path(directory) / PROFILE_FILE
        try:
            body: Any = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise NoMinerProfile(f"{directory} holds no {PROFILE_FILE}") from None
        except OSError as exc:
            raise NoMinerProfile(f"cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise NoMinerProfile(f"{path} is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise NoMinerProfile(f"{path} must hold a JSON object")
        name, revision, skill = body.get("name"), body.get("revision", "main"), body.get("skill")
        if not isinstance(name, str) or not name or not isinstance(revision, str):
            raise NoMinerProfile(f"{path}: name and revision must be non-empty strings")
        if isinstance(skill, bool) or not isinstance(skill, (int, float)):
            raise NoMinerProfile(f"{path}: skill must be a number in [0, 1]")
        try:
            return cls(name, revision, float(skill), faults or Faults())
        except ValueError as exc:
            raise NoMinerProfile(f"{path}: {exc}") from None

    def solves(self, env: str, task_id: int) -> bool:
        """Whether this miner answers this task correctly; the same every time it is asked."""
        return _draw(self.name, self.revision, env, task_id, "solve") < self.skill

    def wrong_salt(self, env: str, task_id: int) -> int:
        """Which wrong answer to give, so a miner repeats the same mistake."""
        return int(_draw(self.name, self.revision, env, task_id, "salt") * 2**32)


def _draw(name: str, revision: str, env: str, task_id: int, purpose: str) -> float:
    """A uniform number in [0, 1) from a hash; independent of interpreter and call order."""
    key = "\x1f".join((name, revision, env, str(task_id), purpose)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
