"""The `Environment` base class: deterministic tasks and their evaluation.

An environment is a pure function of ``(name, version, task_id)`` for its tasks; evaluation of a
response is deterministic too (programs run in the sandbox under pinned limits). Everything a
miner, an auditor or the validator needs to reproduce a score lives behind this interface.

Not a port (see `throne.ports`): environments are the contest's own code, inside the
adapters; they reach the world outside only through the `Sandbox` port.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from throne.envs.tag import parse_tag

MAX_RESPONSE_CHARS = 200_000
"""Longer responses score 0 without being parsed: it bounds the validator's work per sample."""


@dataclass(frozen=True)
class Task:
    """One task: the prompt a miner sees, plus what evaluation needs (never shown to miners)."""

    env: str
    version: str
    task_id: int
    prompt: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """The score of one response (0.0 to 1.0) and a short human-readable reason."""

    score: float
    detail: str


class TaskIdOutOfRange(ValueError):
    """A task id outside the environment's declared ``id_range``."""


class InvalidTask(ValueError):
    """A task that cannot be scored (e.g. no test cases): an error, never a pass or a zero."""


class Environment(ABC):
    """An evaluation environment.

    ``id_range`` is the half-open range ``[start, stop)`` of valid task ids, and it is honest:
    every id in it yields a distinct, valid task.
    """

    name: str
    version: str

    @property
    @abstractmethod
    def id_range(self) -> tuple[int, int]: ...

    @abstractmethod
    def task(self, task_id: int) -> Task:
        """The task with this id; raises `TaskIdOutOfRange` outside ``id_range``."""

    @abstractmethod
    def evaluate(self, task: Task, response: str) -> Evaluation:
        """Score a miner's response. Never raises on bad responses: they score 0.

        Raises only for what is not the miner's doing: `InvalidTask` for a task that cannot
        be scored, ``SandboxUnavailable`` when programs cannot be run (an infrastructure error
        to record as such, not a score).
        """

    @abstractmethod
    def reference_answer(self, task: Task) -> str:
        """A response that scores 1.0 (used by local miners and by tests)."""

    @abstractmethod
    def wrong_answer(self, task: Task, salt: int) -> str:
        """A plausible response that scores 0.0, varied by ``salt`` (local miners, tests)."""

    def locate(self, prompt: str) -> int | None:
        """The task id whose prompt this is, or None if the prompt is not from this env.

        Cheap: every prompt ends with a task reference line (see `throne.envs.tag`).
        """
        tag = parse_tag(prompt)
        if tag is None or tag[:2] != (self.name, self.version):
            return None
        start, stop = self.id_range
        return tag[2] if start <= tag[2] < stop else None

    def check_id(self, task_id: int) -> None:
        start, stop = self.id_range
        if not (start <= task_id < stop):
            raise TaskIdOutOfRange(
                f"{self.name} v{self.version}: task id {task_id} outside [{start}, {stop})"
            )


def task_digest(task: Task) -> str:
    """sha256 of a canonical JSON form of the task: what the golden tests pin."""
    body = {
        "env": task.env,
        "version": task.version,
        "task_id": task.task_id,
        "prompt": task.prompt,
        "data": task.data,
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
