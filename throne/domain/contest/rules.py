"""The verdict rule: `judge` compares two sides on the task ids both of them scored.

Per env, with ``basis`` the champion's mean on the common tasks (or 0.0 when the champion has no
scores at all in that env, in which case the challenger's own tasks count):

- fewer than ``max(1, min_samples)`` tasks            -> ``worse``
- ``chal > basis + margin + 1e-9``                    -> ``dominant``
- ``chal >= lower(basis) - 1e-9``                     -> ``not_worse``
- otherwise                                           -> ``worse``

where ``lower(b) = b * (1 - not_worse_tolerance)``, or ``b - margin`` for additive envs (whose
scores may cross zero). Overall, ``min_dominant_envs == 0`` is the strict rule (every env
dominant); ``N > 0`` needs at least N dominant envs and none worse. No envs: the champion holds.

Means use ``math.fsum`` over the scores, so the result does not depend on iteration order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import attrs

SLACK = 1e-9

EnvOutcome = Literal["dominant", "not_worse", "worse"]
Winner = Literal["challenger", "champion"]
Scores = Mapping[str, Mapping[int, float]]


@attrs.frozen
class EnvRule:
    """How one env is compared. ``margin`` is the dominance margin (and the additive tolerance)."""

    margin: float = 0.03
    not_worse_tolerance: float = 0.02
    additive: bool = False
    min_samples: int = 1

    def dominant_threshold(self, basis: float) -> float:
        return basis + self.margin

    def not_worse_threshold(self, basis: float) -> float:
        if self.additive:
            return basis - self.margin
        return basis * (1.0 - self.not_worse_tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "not_worse_tolerance": self.not_worse_tolerance,
            "additive": self.additive,
            "min_samples": self.min_samples,
        }


@attrs.frozen
class ContestRules:
    """The envs that vote, in order, and the aggregate rule."""

    envs: Mapping[str, EnvRule] = attrs.field(factory=dict)
    min_dominant_envs: int = 0


@attrs.frozen
class EnvVerdict:
    verdict: EnvOutcome
    champion_mean: float
    challenger_mean: float
    n: int
    dominant_threshold: float
    not_worse_threshold: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "champion_mean": self.champion_mean,
            "challenger_mean": self.challenger_mean,
            "n": self.n,
            "dominant_threshold": self.dominant_threshold,
            "not_worse_threshold": self.not_worse_threshold,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnvVerdict:
        return cls(
            verdict=d["verdict"],
            champion_mean=float(d["champion_mean"]),
            challenger_mean=float(d["challenger_mean"]),
            n=int(d["n"]),
            dominant_threshold=float(d["dominant_threshold"]),
            not_worse_threshold=float(d["not_worse_threshold"]),
            reason=str(d["reason"]),
        )


@attrs.frozen
class Verdict:
    """Who won and why, per env. ``evidence`` (plain JSON values) is what a rule that weighs
    evidence used: its statistic, bound, error rate and the tasks compared per env; None for
    the rules whose per-env thresholds say it all, and in logs written before it existed."""

    winner: Winner
    reason: str
    per_env: Mapping[str, EnvVerdict]
    evidence: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            "winner": self.winner,
            "reason": self.reason,
            "per_env": {env: v.to_dict() for env, v in self.per_env.items()},
        }
        if self.evidence is not None:
            out["evidence"] = dict(self.evidence)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        return cls(
            winner=d["winner"],
            reason=str(d["reason"]),
            per_env={env: EnvVerdict.from_dict(v) for env, v in d["per_env"].items()},
            evidence=d.get("evidence"),
        )


def mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def judge_env(
    champion: Mapping[int, float], challenger: Mapping[int, float], rule: EnvRule
) -> EnvVerdict:
    """The verdict in one env, on the task ids both sides scored."""
    if champion:
        common = sorted(set(champion) & set(challenger))
        champ_mean = mean([champion[t] for t in common])
    else:
        common = sorted(challenger)
        champ_mean = 0.0
    chal_mean = mean([challenger[t] for t in common])
    n = len(common)
    upper = rule.dominant_threshold(champ_mean)
    lower = rule.not_worse_threshold(champ_mean)

    def verdict(outcome: EnvOutcome, reason: str) -> EnvVerdict:
        return EnvVerdict(outcome, champ_mean, chal_mean, n, upper, lower, reason)

    needed = max(1, rule.min_samples)
    if n < needed:
        return verdict("worse", f"insufficient_samples:{n}<{needed}")
    if chal_mean > upper + SLACK:
        return verdict("dominant", "dominant")
    if chal_mean >= lower - SLACK:
        return verdict("not_worse", "not_worse")
    return verdict("worse", "below_not_worse_bound")


def judge(champion: Scores, challenger: Scores, rules: ContestRules) -> Verdict:
    """Decide a battle. Only task ids present on both sides count (see the module docstring)."""
    per_env = {
        env: judge_env(champion.get(env, {}), challenger.get(env, {}), rule)
        for env, rule in rules.envs.items()
    }
    total = len(per_env)
    if total == 0:
        return Verdict("champion", "no_scoring_envs", per_env)
    dominant = sum(1 for v in per_env.values() if v.verdict == "dominant")
    worse = [(env, v) for env, v in per_env.items() if v.verdict == "worse"]
    if worse:
        env, v = worse[0]
        return Verdict("champion", f"regressed_in_env:{env}:{v.reason}", per_env)
    needed = total if rules.min_dominant_envs <= 0 else rules.min_dominant_envs
    if dominant >= needed:
        return Verdict("challenger", f"dominant_in_{dominant}_of_{total}_envs", per_env)
    return Verdict("champion", f"insufficient_dominant_envs:{dominant}<{needed}", per_env)
