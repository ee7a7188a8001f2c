"""The seeds' epsilon-Pareto rule between a challenger and the champion, with z-scaled margins.

Per env, on the paired tasks (``n`` of them), with ``a`` the challenger's mean and ``b`` the
champion's:

- ``var = p_a (1 - p_a) / m + p_b (1 - p_b) / m``, ``p`` the means clamped to [0, 1] and
  ``m = max(min(n, 1000), 1)``;
- not-worse margin ``nw = max(eps_floor, z_not_worse * sqrt(var))``;
- win margin ``bet = min(max(eps_win, z_win * sqrt(var)) if z_win > 0 else eps_win, nw)``;
- ``dominant`` if ``a >= b + bet``, ``not_worse`` if ``a >= b - nw``, else ``worse``
  (boundaries inclusive up to `rules.SLACK`); an env without pairs is ``worse``.

The challenger wins iff no env is worse and at least one is dominant; a tie (every env
not worse, none dominant) holds for the champion, who committed earlier. No envs: the
champion holds. Means use ``math.fsum``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import attrs

from throne.domain.contest.rules import SLACK, EnvOutcome, EnvVerdict, Verdict

#: The seeds stop a variance from shrinking past this many samples.
N_CAP = 1000


@attrs.frozen
class ParetoParams:
    """The seeds' last (October 2025) margins."""

    eps_floor: float = 0.005
    z_not_worse: float = 1.28
    eps_win: float = 0.015
    z_win: float = 0.5


def margins(
    champion_mean: float, challenger_mean: float, n: int, params: ParetoParams
) -> tuple[float, float]:
    """``(nw, bet)``: how far below the champion the challenger may fall and still be not
    worse, and how far above it must be to dominate."""
    m = max(min(n, N_CAP), 1)
    pa = min(max(challenger_mean, 0.0), 1.0)
    pb = min(max(champion_mean, 0.0), 1.0)
    sd = math.sqrt(pa * (1.0 - pa) / m + pb * (1.0 - pb) / m)
    nw = max(params.eps_floor, params.z_not_worse * sd)
    win = max(params.eps_win, params.z_win * sd) if params.z_win > 0 else params.eps_win
    return nw, min(win, nw)


def pareto_env(pairs: Sequence[tuple[float, float]], params: ParetoParams) -> EnvVerdict:
    """The verdict in one env; ``pairs`` are (champion score, challenger score)."""
    n = len(pairs)
    b = math.fsum(champ for champ, _ in pairs) / n if n else 0.0
    a = math.fsum(chal for _, chal in pairs) / n if n else 0.0
    nw, bet = margins(b, a, n, params)
    upper, lower = b + bet, b - nw

    def verdict(outcome: EnvOutcome, reason: str) -> EnvVerdict:
        return EnvVerdict(outcome, b, a, n, upper, lower, reason)

    if n == 0:
        return verdict("worse", "no_paired_tasks")
    if a >= upper - SLACK:
        return verdict("dominant", "dominant")
    if a >= lower - SLACK:
        return verdict("not_worse", "not_worse")
    return verdict("worse", "below_not_worse_bound")


def pareto_judge(
    pairs: Mapping[str, Sequence[tuple[float, float]]], params: ParetoParams
) -> Verdict:
    """Decide a battle by the epsilon-Pareto rule (see the module docstring). ``pairs[env]``
    holds (champion score, challenger score) per paired task; reasons name the envs in sorted
    order, so they do not depend on the order of ``pairs``."""
    per_env = {env: pareto_env(p, params) for env, p in pairs.items()}
    if not per_env:
        return Verdict("champion", "no_scoring_envs", per_env)
    worse = sorted(env for env, v in per_env.items() if v.verdict == "worse")
    if worse:
        return Verdict("champion", f"pareto_worse_in:{','.join(worse)}", per_env)
    dominant = sorted(env for env, v in per_env.items() if v.verdict == "dominant")
    if dominant:
        return Verdict("challenger", f"pareto_dominant_in:{','.join(dominant)}", per_env)
    return Verdict("champion", "pareto_tie_holds_for_champion", per_env)
