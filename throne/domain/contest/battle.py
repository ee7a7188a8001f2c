"""The rules of a battle: which scores count, how far it has come, and when and how it ends.

Pure functions of the battle, the pool, the two sides' scores and the configuration. The
contest's commands call them to decide; the standings and the audit replay call them to show
and to recheck the same thing.
"""

from __future__ import annotations

import attrs

from throne.domain.contest.config import ContestConfig
from throne.domain.contest.pool import completeness_threshold
from throne.domain.contest.rules import EnvOutcome, Scores, Verdict, judge, judge_env
from throne.domain.contest.samples import SideScores
from throne.domain.contest.state import Battle, DecisionInputs, Pool, Step


def restrict(scores: Scores, pool: Pool, config: ContestConfig) -> dict[str, dict[int, float]]:
    """Only the pool's task ids of scoring envs count; every scoring env is a key."""
    out: dict[str, dict[int, float]] = {}
    for env in config.scoring_envs:
        allowed = pool.ids(env.name)
        got = scores.get(env.name, {})
        out[env.name] = {t: s for t, s in got.items() if t in allowed}
    return out


@attrs.frozen
class EnvProgress:
    """One scoring env of a battle so far: the verdict it would get now, and how much evidence
    it has (``common`` of ``needed`` tasks both sides scored; ``champion_scored`` of the
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
        """Enough common tasks for this env's verdict to count."""
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
    """Per scoring env, on the pool's task ids only."""
    champ, chal = restrict(champion, pool, config), restrict(challenger, pool, config)
    rules = config.rules()
    out = {}
    for env in config.scoring_envs:
        v = judge_env(champ[env.name], chal[env.name], rules.envs[env.name])
        out[env.name] = EnvProgress(
            common=v.n,
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
    3. an env with enough common tasks where the challenger is already ``worse`` terminates it
       (``early_regression``): no later sample can make the strict rule pass;
    4. once every scoring env has enough common tasks, ``judge`` decides.
    """
    if battle.past_deadline(block):
        return BattleDecision(Step.TERMINATED, "deadline")
    if challenger is not None:
        fresh = challenger.infra_errors - battle.infra_baseline
        if fresh >= config.release_after_infra_errors:
            return BattleDecision(Step.RELEASED, f"infra_errors:{fresh}")
    if champion is None or challenger is None:
        return None
    envs = progress(champion.scores, challenger.scores, pool, config)

    def inputs(rule: str) -> DecisionInputs:
        return DecisionInputs(champion.version, challenger.version, rule)

    def verdict() -> Verdict:
        return judge(
            restrict(champion.scores, pool, config),
            restrict(challenger.scores, pool, config),
            config.rules(),
        )

    for name, env in envs.items():
        if env.decided and env.outcome == "worse":
            reason = f"lost_to_champion:early_regression_in_{name}"
            return BattleDecision(Step.TERMINATED, reason, verdict(), inputs("early_regression"))
    if not all(env.decided for env in envs.values()):
        return None
    judged = verdict()
    if judged.winner == "challenger":
        return BattleDecision(Step.DETHRONED, judged.reason, judged, inputs("judge"))
    return BattleDecision(
        Step.TERMINATED, f"lost_to_champion:{judged.reason}", judged, inputs("judge")
    )
