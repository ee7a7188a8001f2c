"""Samples: one (miner, env, task) evaluation, and the scores a side brings to a decision."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import attrs

Outcome = Literal["ok", "model_error", "infra_error"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "model_error", "infra_error")


class InvalidSample(ValueError):
    """A sample that is malformed in itself (unknown outcome, non-finite score, ...)."""


@attrs.frozen
class Sample:
    """One finished evaluation.

    ``ok`` carries the env's score; ``model_error`` (the model answered badly or not at all)
    counts as 0; ``infra_error`` (we could not reach or serve the model) is not a score and
    counts toward releasing the challenger. ``attempt`` tells apart retries of infra errors.
    """

    pool: int
    env: str
    task_id: int
    hotkey: str
    revision: str
    score: float
    outcome: Outcome = "ok"
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    response_digest: str = ""
    attempt: int = 0

    def check(self) -> None:
        if self.outcome not in OUTCOMES:
            raise InvalidSample(f"unknown outcome {self.outcome!r}")
        if not math.isfinite(self.score):
            raise InvalidSample(f"score must be finite, got {self.score!r}")
        if self.outcome != "ok" and self.score != 0.0:
            raise InvalidSample(f"a {self.outcome} sample must carry score 0.0")
        if self.task_id < 0 or self.latency_ms < 0 or self.attempt < 0:
            raise InvalidSample("task_id, latency_ms and attempt must be >= 0")


@attrs.frozen
class SideScores:
    """What one side brings to a decision: its scores in the current pool, by env and task
    id (model errors count as 0, infrastructure failures do not).

    ``version`` is the version of the scorecard the scores were read from, recorded in verdicts
    so that an audit recomputes on exactly the samples the decision saw.
    """

    hotkey: str
    revision: str
    pool: int
    scores: Mapping[str, Mapping[int, float]] = attrs.field(factory=dict)
    infra_errors: int = 0
    version: int = 0
    #: infrastructure failures so far, by env and task id
    failures: Mapping[str, Mapping[int, int]] = attrs.field(factory=dict)
