"""A paired group-sequential test of "the challenger is better than the champion".

Each env's tasks are walked in the pool's committed order, and the battle is looked at
``looks`` times, at equally spaced fractions ``k/looks`` of every env's ``sampling_count``
(`look_sizes`). At look ``k`` only the first ``look_sizes(S_e)[k-1]`` pairs of env ``e``
count. Per env, with ``d_i = challenger - champion`` on those pairs: ``diff`` their mean,
``se = sqrt(var / n)`` with ``var`` their sample variance floored at `variance_floor`, and
``z = diff / se``. An env is ``worse`` when ``diff + not_worse_z * se < 0``.

- ``min_dominant_envs == 0`` (overall): ``D`` the mean difference over every pair of every
  env (each task weighs the same; stratified by env: ``D = sum n_e diff_e / N``), with
  ``SE = sqrt(sum n_e^2 se_e^2) / N``, ``N = sum n_e``, and ``Z = D / SE``. Dethrone at look
  ``k`` iff ``Z >= c_k(alpha)`` and no env is worse. Weighing tasks, not envs, is the most
  powerful fixed-size test when the challenger is better by the same amount everywhere; since
  the looks take the same share of every env, the weights do not change from look to look.
- ``min_dominant_envs == N > 0``: dethrone iff at least ``N`` envs have
  ``z_e >= c_k(alpha / E)`` (Bonferroni: the false-dethrone rate stays at most ``alpha``
  across the envs) and no env is worse.

The bounds ``c_k`` (`efficacy_bounds`) spend ``alpha`` with the Lan-DeMets O'Brien-Fleming
type function, so an equal challenger dethrones with probability at most ``alpha`` however
many looks it reaches. Futility is non-binding (it only ever ends a battle against the
challenger, so it cannot raise that rate): at a look ``k < K`` the challenger is terminated
when it is clearly not better by ``effect`` -- overall ``D + futility_z * SE < effect``; for
``N`` envs, fewer than ``N`` envs still have ``diff_e + futility_z * se_e >= effect``. At the
last look a challenger that did not dethrone is terminated.

Everything is a pure function of its inputs; sums use ``math.fsum``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from throne.domain.contest.sequential_bounds import efficacy_bounds as efficacy_bounds

Decision = Literal["dethrone", "terminate"]
EnvOutcome = Literal["dominant", "not_worse", "worse"]

METHOD = "group_sequential_obf"


def variance_floor(n: int) -> float:
    """The least per-pair variance of ``n`` differences: ``1/n``, the sample variance of ``n``
    differences of which one is a whole point (the width of the [0, 1] score range) away from
    the others.

    Why a floor: an exact copy of the champion has every ``d_i = 0``, a sample variance of 0 and
    so ``z = 0 / 0``; with the floor its ``z`` is 0, below every bound, and it never wins; and a
    single pair, whose sample variance is undefined, gets a finite ``z``. Why this one: with
    pass/fail scores a few pairs are often all alike, and any constant floor small enough not to
    bias real evidence then gives an enormous ``z``: with a floor of 1e-4, an equal challenger
    on 5 to 30 tasks per env dethroned in 4 % to 28 % of battles, at the first look. ``n`` alike
    pairs cannot rule out that the next one differs, and ``1/n`` is the variance they would show
    if one had. A pair of models at p = 0.5 has a per-pair variance of 0.25 at a shared-outcome
    rate of 0.5, so the floor binds only below 4 pairs; at p = 0.9 with 80 % shared outcomes
    (variance 0.036) it binds below 28, where it makes the test more careful, not less.
    """
    return 1.0 / n


@attrs.frozen
class SequentialParams:
    """``alpha``: the false-dethrone probability, held across envs. ``looks``: equally spaced
    looks at ``k/looks`` of each env's sampling_count. ``effect``: the improvement futility is
    judged against. ``not_worse_z``: an env is worse when significantly below 0 at this z.
    ``min_dominant_envs``: 0 = the overall aggregate; N = better in at least N envs.

    ``futility_z``: how sure "not better by ``effect``" must be to stop early. 2.0 was chosen
    with `bench.mechanism` (envs of 200, 100 and 300 tasks, 300 battles a cell, seed 7): at
    shared-outcome rate 0.8 and p = 0.3 it keeps power at +5 points at 0.80 (1.75: 0.77, 1.5:
    0.72), where the issue asks for 0.8; at rate 0 it brings the challenger's samples on the
    mix of challengers to 0.48 x the reference rule's (1.75: 0.43, 1.5: 0.36), where the
    target is 0.5. No value holds both targets with a wide margin (docs/verdicts.md).
    """

    alpha: float = 0.01
    looks: int = 10
    effect: float = 0.05
    futility_z: float = 2.0
    not_worse_z: float = 1.645
    min_dominant_envs: int = 0


def look_sizes(sampling_count: int, looks: int) -> tuple[int, ...]:
    """The number of pairs of an env each look counts: ``ceil(k * S / K)`` for ``k = 1..K``."""
    if sampling_count < 1 or looks < 1:
        raise ValueError(f"sampling_count and looks must be >= 1: {sampling_count}, {looks}")
    return tuple(-(-k * sampling_count // looks) for k in range(1, looks + 1))


@attrs.frozen
class EnvEvidence:
    """One env at one look: ``n`` pairs, the two means, ``diff`` (mean of challenger -
    champion), its standard error and ``z``; ``outcome`` is ``worse`` when
    ``diff + not_worse_z * se < 0``, ``dominant`` when ``z`` reaches the look's bound."""

    n: int
    champion_mean: float
    challenger_mean: float
    diff: float
    se: float
    z: float
    outcome: EnvOutcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "champion_mean": self.champion_mean,
            "challenger_mean": self.challenger_mean,
            "diff": self.diff,
            "se": self.se,
            "z": self.z,
            "outcome": self.outcome,
        }


@attrs.frozen
class SequentialResult:
    """``decision`` None while no look has been conclusive; ``look`` the deciding look (or the
    last one reached, 0 for none); ``per_env`` and ``evidence`` (JSON-able) at that look."""

    decision: Decision | None
    reason: str
    look: int
    per_env: dict[str, EnvEvidence]
    evidence: dict[str, Any]


@attrs.frozen
class _EnvStats:
    n: int
    champion_mean: float
    challenger_mean: float
    diff: float
    se: float

    @property
    def z(self) -> float:
        return self.diff / self.se


def _env_stats(pairs: Sequence[tuple[float, float]]) -> _EnvStats:
    n = len(pairs)
    d = [chal - champ for champ, chal in pairs]
    diff = math.fsum(d) / n
    var = math.fsum((x - diff) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    return _EnvStats(
        n=n,
        champion_mean=math.fsum(champ for champ, _ in pairs) / n,
        challenger_mean=math.fsum(chal for _, chal in pairs) / n,
        diff=diff,
        se=math.sqrt(max(var, variance_floor(n)) / n),
    )


def _looks_reached(available: int, sizes: tuple[int, ...]) -> int:
    return bisect.bisect_right(sizes, available)


def sequential_test(
    pairs: Mapping[str, Sequence[tuple[float, float]]],
    sampling_counts: Mapping[str, int],
    params: SequentialParams,
) -> SequentialResult:
    """Judge the battle on the paired prefix (see the module docstring for the rule).

    ``pairs[env]`` holds (champion score, challenger score) in pool order for every env of
    ``sampling_counts``; pairs past an env's last look size are never used. Looks ``1..L`` are
    checked in order, ``L`` the last look every env has the pairs for; the first conclusive look
    decides. No envs: the champion holds.
    """
    envs = list(sampling_counts)
    looks = params.looks
    if not envs:
        return SequentialResult(
            "terminate", "sequential_no_scoring_envs", 0, {}, _base_evidence(params, 0)
        )
    sizes = {e: look_sizes(sampling_counts[e], looks) for e in envs}
    reached = min(_looks_reached(len(pairs.get(e, ())), sizes[e]) for e in envs)
    result = SequentialResult(
        None, f"sequential_inconclusive_at_look_0_of_{looks}", 0, {}, _base_evidence(params, 0)
    )
    for k in range(1, reached + 1):
        stats = {e: _env_stats(pairs[e][: sizes[e][k - 1]]) for e in envs}
        result = _judge_look(stats, k, params)
        if result.decision is not None:
            return result
    return result


def _base_evidence(params: SequentialParams, look: int) -> dict[str, Any]:
    return {
        "method": METHOD,
        "alpha": params.alpha,
        "looks": params.looks,
        "look": look,
        "effect": params.effect,
        "futility_z": params.futility_z,
        "not_worse_z": params.not_worse_z,
        "min_dominant_envs": params.min_dominant_envs,
        "variance_floor": "1/n",
    }


def _judge_look(
    stats: Mapping[str, _EnvStats], k: int, params: SequentialParams
) -> SequentialResult:
    looks = params.looks
    bound_alpha = params.alpha if params.min_dominant_envs <= 0 else params.alpha / len(stats)
    bounds = efficacy_bounds(bound_alpha, looks)
    bound = bounds[k - 1]

    def outcome(s: _EnvStats) -> EnvOutcome:
        if s.diff + params.not_worse_z * s.se < 0.0:
            return "worse"
        return "dominant" if s.z >= bound else "not_worse"

    per_env = {
        e: EnvEvidence(s.n, s.champion_mean, s.challenger_mean, s.diff, s.se, s.z, outcome(s))
        for e, s in stats.items()
    }
    last = k == looks
    if params.min_dominant_envs <= 0:
        better, futile, summary = _overall(stats, bound, last, params)
    else:
        better, futile, summary = _per_env(stats, per_env, last, params)
    evidence = _base_evidence(params, k) | {
        "bound_alpha": bound_alpha,
        "bounds": list(bounds),
        "bound": bound,
        **summary,
    }
    evidence["envs"] = {e: v.to_dict() | evidence["envs"].get(e, {}) for e, v in per_env.items()}
    worse = sorted(e for e, v in per_env.items() if v.outcome == "worse")
    at = f"at_look_{k}_of_{looks}"
    if better and not worse:
        return SequentialResult("dethrone", f"sequential_better_{at}", k, per_env, evidence)
    if futile:
        return SequentialResult("terminate", f"sequential_futility_{at}", k, per_env, evidence)
    if last:
        reason = f"sequential_not_better_{at}"
        if worse:
            reason = f"sequential_worse_in_env:{','.join(worse)}_{at}"
        return SequentialResult("terminate", reason, k, per_env, evidence)
    return SequentialResult(None, f"sequential_inconclusive_{at}", k, per_env, evidence)


def _futility_bound(se: float, last: bool, params: SequentialParams) -> float | None:
    """On the z scale: ``z < effect/se - futility_z`` iff ``diff + futility_z * se < effect``.
    None at the last look, where a challenger that is not better is terminated anyway."""
    return None if last else params.effect / se - params.futility_z


def _overall(
    stats: Mapping[str, _EnvStats], bound: float, last: bool, params: SequentialParams
) -> tuple[bool, bool, dict[str, Any]]:
    """The aggregate over every pair, stratified by env: (better, futile, its evidence)."""
    total = sum(s.n for s in stats.values())
    d = math.fsum(s.n * s.diff for s in stats.values()) / total
    se = math.sqrt(math.fsum((s.n * s.se) ** 2 for s in stats.values())) / total
    z = d / se
    futile = not last and d + params.futility_z * se < params.effect
    summary = {
        "aggregate": "overall",
        "diff": d,
        "se": se,
        "statistic": z,
        "futility_bound": _futility_bound(se, last, params),
        "envs": {},
    }
    return z >= bound, futile, summary


def _per_env(
    stats: Mapping[str, _EnvStats],
    per_env: Mapping[str, EnvEvidence],
    last: bool,
    params: SequentialParams,
) -> tuple[bool, bool, dict[str, Any]]:
    """At least ``min_dominant_envs`` envs past their own bound: (better, futile, evidence)."""
    need = params.min_dominant_envs
    dominant = sum(1 for v in per_env.values() if v.outcome == "dominant")
    alive = sum(1 for s in stats.values() if s.diff + params.futility_z * s.se >= params.effect)
    ranked = sorted((s.z for s in stats.values()), reverse=True)
    summary = {
        "aggregate": "per_env",
        # the N-th largest z: at least N envs reach the bound iff it does
        "statistic": ranked[need - 1] if need <= len(ranked) else None,
        "dominant_envs": dominant,
        "futility_alive_envs": alive,
        "envs": {
            e: {"futility_bound": _futility_bound(s.se, last, params)} for e, s in stats.items()
        },
    }
    return dominant >= need, not last and alive < need, summary
