"""The rules of a battle: which scores count, how far it has come, and when and how it ends.

Pure functions of the battle, the pool, the two sides' scores and the configuration. The
contest's commands call them to decide; the standings and the audit replay call them to show
and to recheck the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from throne.domain.contest.config import ContestConfig
from throne.domain.contest.pareto import ParetoParams, pareto_judge
from throne.domain.contest.pool import completeness_threshold
from throne.domain.contest.rules import EnvOutcome, EnvVerdict, Scores, Verdict, Winner, judge
from throne.domain.contest.samples import SideScores
from throne.domain.contest.sequential import SequentialParams, sequential_test
from throne.domain.contest.state import Battle, DecisionInputs, Pool, Step


def restrict(scores: Scores, pool: Pool, config: ContestConfig) -> dict[str, dict[int, float]]:
    """Only the pool's task ids of scoring envs count; every scoring env is a key."""
    out: dict[str, dict[int, float]] = {}
    for env in config.scoring_envs:
        allowed = pool.ids(env.name)
        got = scores.get(env.name, {})
        out[env.name] = {t: s for t, s in got.items() if t in allowed}
    return out


Pairs = dict[str, list[tuple[int, float, float]]]


def paired_prefix(champion: Scores, challenger: Scores, pool: Pool, config: ContestConfig) -> Pairs:
    """The evidence of a battle, per scoring env: ``(task id, champion score, challenger
    score)`` in the pool's order, over the tasks the champion has scored, up to the first one
    the challenger has not. A task still pending for the challenger (its infrastructure
    failed) holds back everything after it: nothing drops out because of how it went."""
    out: Pairs = {}
    for env in config.scoring_envs:
        champ, chal = champion.get(env.name, {}), challenger.get(env.name, {})
        pairs = []
        for t in pool.task_ids.get(env.name, ()):
            if t not in champ:
                continue
            if t not in chal:
                break
            pairs.append((t, champ[t], chal[t]))
        out[env.name] = pairs
    return out


@attrs.frozen
class Judgement:
    """What the configured rule makes of a battle's evidence now: the verdict it would give,
    whether that verdict stands (``final``), and the rule's name as decisions record it
    (``judge``, ``early_regression``, ``pareto`` or ``sequential``)."""

    verdict: Verdict
    final: bool
    rule: str
    #: per env, how many tasks the evidence holds (the prefix, or the common tasks)
    compared: Mapping[str, int]
    #: the env an early regression was found in
    regressed: str | None = None


def judge_battle(
    champion: Scores, challenger: Scores, pool: Pool, config: ContestConfig
) -> Judgement:
    """The rule of ``config`` on the two sides' scores in ``pool``: a pure function of them.

    - ``evidence = "common"`` (logs written before ordered pools): the tasks both scored; an
      env with ``sampling_count`` of them where the challenger is ``worse`` ends the battle
      (``early_regression``: no later sample can save it), else `judge` once every env has
      them.
    - ``evidence = "prefix"``: the first ``sampling_count`` pairs of `paired_prefix` per env.
      ``strict``/``partial`` and ``pareto`` decide once every env has them (strict and
      partial also by early regression); ``sequential`` at the first conclusive look.
    """
    if config.evidence == "common":
        return _judge_common(champion, challenger, pool, config)
    prefix = paired_prefix(champion, challenger, pool, config)
    counts = {e.name: e.sampling_count for e in config.scoring_envs}
    compared = {env: min(len(p), counts[env]) for env, p in prefix.items()}
    if config.rule == "sequential":
        return _sequential(prefix, counts, compared, config)
    fixed = {env: p[: counts[env]] for env, p in prefix.items()}
    complete = all(len(fixed[env]) >= counts[env] for env in counts)
    if config.rule == "pareto":
        verdict = pareto_judge(
            {env: [(a, b) for _, a, b in p] for env, p in fixed.items()}, pareto_params(config)
        )
        return Judgement(verdict, complete, "pareto", compared)
    champ = {env: {t: a for t, a, _ in p} for env, p in fixed.items()}
    chal = {env: {t: b for t, _, b in p} for env, p in fixed.items()}
    return _fixed_size(judge(champ, chal, config.rules()), compared, counts)


def pareto_params(config: ContestConfig) -> ParetoParams:
    return ParetoParams(
        eps_floor=config.pareto_eps_floor,
        z_not_worse=config.pareto_z_not_worse,
        eps_win=config.pareto_eps_win,
        z_win=config.pareto_z_win,
    )


def sequential_params(config: ContestConfig) -> SequentialParams:
    return SequentialParams(
        alpha=config.sequential_alpha,
        looks=config.sequential_looks,
        effect=config.sequential_effect,
        futility_z=config.sequential_futility_z,
        not_worse_z=config.sequential_not_worse_z,
        min_dominant_envs=config.min_dominant_envs,
    )


def _judge_common(
    champion: Scores, challenger: Scores, pool: Pool, config: ContestConfig
) -> Judgement:
    verdict = judge(
        restrict(champion, pool, config), restrict(challenger, pool, config), config.rules()
    )
    compared = {env: v.n for env, v in verdict.per_env.items()}
    return _fixed_size(verdict, compared, {e.name: e.sampling_count for e in config.scoring_envs})


def _fixed_size(
    verdict: Verdict, compared: Mapping[str, int], counts: Mapping[str, int]
) -> Judgement:
    """`judge`'s verdict stands once every env has its tasks, or earlier when an env that has
    them is already worse: no later sample can make the challenger win then."""
    for env, v in verdict.per_env.items():
        if compared[env] >= counts[env] and v.verdict == "worse":
            return Judgement(verdict, True, "early_regression", compared, regressed=env)
    complete = all(compared[env] >= counts[env] for env in counts)
    return Judgement(verdict, complete, "judge", compared)


def _sequential(
    prefix: Pairs, counts: Mapping[str, int], compared: Mapping[str, int], config: ContestConfig
) -> Judgement:
    result = sequential_test(
        {env: [(a, b) for _, a, b in p] for env, p in prefix.items()},
        counts,
        sequential_params(config),
    )
    bound = float(result.evidence.get("bound", 0.0))
    per_env = {}
    for env, p in prefix.items():
        e = result.per_env.get(env)
        if e is None:  # before the first look: the means so far, no bound yet
            n = len(p)
            champ = math.fsum(a for _, a, _ in p) / n if n else 0.0
            chal = math.fsum(b for _, _, b in p) / n if n else 0.0
            per_env[env] = EnvVerdict(
                "not_worse", champ, chal, n, champ, champ, "before_first_look"
            )
            continue
        per_env[env] = EnvVerdict(
            e.outcome,
            e.champion_mean,
            e.challenger_mean,
            e.n,
            e.champion_mean + bound * e.se,
            e.champion_mean - config.sequential_not_worse_z * e.se,
            e.outcome,
        )
    winner: Winner = "challenger" if result.decision == "dethrone" else "champion"
    verdict = Verdict(winner, result.reason, per_env, result.evidence)
    return Judgement(verdict, result.decision is not None, "sequential", compared)


@attrs.frozen
class EnvProgress:
    """One scoring env of a battle so far: the verdict it would get now, and how much evidence
    it has (``common`` of ``needed`` tasks compared; ``champion_scored`` of the
    ``champion_needed`` the champion must score before a battle starts)."""

    common: int
    needed: int
    champion_mean: float
    challenger_mean: float
    dominant_threshold: float
    not_worse_threshold: float
    champion_scored: int
    champion_needed: int
    outcome: EnvOutcome

    @property
    def decided(self) -> bool:
        """Enough tasks compared for this env's fixed-size verdict to count."""
        return self.common >= self.needed

    def to_dict(self) -> dict[str, int | float]:
        return {
            "common": self.common,
            "needed": self.needed,
            "champion_mean": self.champion_mean,
            "challenger_mean": self.challenger_mean,
            "dominant_threshold": self.dominant_threshold,
            "not_worse_threshold": self.not_worse_threshold,
            "champion_scored": self.champion_scored,
            "champion_needed": self.champion_needed,
        }


def progress(
    champion: Scores, challenger: Scores, pool: Pool, config: ContestConfig
) -> dict[str, EnvProgress]:
    """Per scoring env, on the pool's task ids only: what `judge_battle` sees now."""
    return progress_of(judge_battle(champion, challenger, pool, config), champion, pool, config)


def progress_of(
    judgement: Judgement, champion: Scores, pool: Pool, config: ContestConfig
) -> dict[str, EnvProgress]:
    champ = restrict(champion, pool, config)
    out = {}
    for env in config.scoring_envs:
        v = judgement.verdict.per_env[env.name]
        out[env.name] = EnvProgress(
            common=judgement.compared.get(env.name, 0),
            needed=env.sampling_count,
            champion_mean=v.champion_mean,
            challenger_mean=v.challenger_mean,
            dominant_threshold=v.dominant_threshold,
            not_worse_threshold=v.not_worse_threshold,
            champion_scored=len(champ[env.name]),
            champion_needed=completeness_threshold(
                len(pool.task_ids.get(env.name, ())), config.completeness
            ),
            outcome=v.verdict,
        )
    return out


def champion_complete(champion: Scores | None, pool: Pool | None, config: ContestConfig) -> bool:
    """The champion has scored ``ceil(pool * completeness)`` tasks in every scoring env."""
    if pool is None or champion is None:
        return False
    scores = restrict(champion, pool, config)
    return all(
        len(scores[env.name])
        >= completeness_threshold(len(pool.task_ids.get(env.name, ())), config.completeness)
        for env in config.scoring_envs
    )


@attrs.frozen
class BattleDecision:
    """How a battle ends now: ``step`` is ``terminated`` (the challenger), ``released`` (back to
    the queue) or ``dethroned`` (the champion), for ``reason``; a verdict with its inputs when
    one was judged."""

    step: Step
    reason: str
    verdict: Verdict | None = None
    inputs: DecisionInputs | None = None


def decide(
    battle: Battle,
    block: int,
    champion: SideScores | None,
    challenger: SideScores | None,
    pool: Pool,
    config: ContestConfig,
) -> BattleDecision | None:
    """The battle's end at ``block``, or None while it goes on. In order:

    1. at its deadline the challenger is terminated (``deadline``);
    2. ``release_after_infra_errors`` infra errors of the challenger since the battle started
       release it;
    3. the configured rule, once its verdict stands (`judge_battle`).
    """
    if battle.past_deadline(block):
        return BattleDecision(Step.TERMINATED, "deadline")
    if challenger is not None:
        fresh = challenger.infra_errors - battle.infra_baseline
        if fresh >= config.release_after_infra_errors:
            return BattleDecision(Step.RELEASED, f"infra_errors:{fresh}")
    if champion is None or challenger is None:
        return None
    judged = judge_battle(champion.scores, challenger.scores, pool, config)
    if not judged.final:
        return None
    inputs = DecisionInputs(champion.version, challenger.version, judged.rule)
    verdict = judged.verdict
    if verdict.winner == "challenger":
        return BattleDecision(Step.DETHRONED, verdict.reason, verdict, inputs)
    if judged.regressed is not None:
        reason = f"lost_to_champion:early_regression_in_{judged.regressed}"
        return BattleDecision(Step.TERMINATED, reason, verdict, inputs)
    return BattleDecision(Step.TERMINATED, f"lost_to_champion:{verdict.reason}", verdict, inputs)
