"""The battle's rules as pure functions: which scores count, the progress shown, the decision,
the work each side is owed and which samples are admitted."""

from __future__ import annotations

from tests.support.contest import small_config
from throne.domain.contest.admission import rejection
from throne.domain.contest.battle import champion_complete, decide, progress, restrict
from throne.domain.contest.config import EnvConfig
from throne.domain.contest.samples import Sample, SideScores
from throne.domain.contest.state import Battle, Pool, Step
from throne.domain.contest.work import owed_work

CONFIG = small_config(
    envs=(
        EnvConfig("SAT", 2, (0, 40)),
        EnvConfig("ABD", 2, (0, 40)),
        EnvConfig("X", 1, (0, 9), scoring=False),
    )
)
POOL = Pool(3, 100, "c0mm1t", {"SAT": [1, 2, 3], "ABD": [4, 5, 6], "X": [7, 8]})
BATTLE = Battle("chal", "r1", started=100, deadline=150, pool=3, infra_baseline=1)


def side(hotkey: str, scores: dict[str, dict[int, float]], **kw: object) -> SideScores:
    return SideScores(hotkey, "r1", 3, scores, **kw)  # type: ignore[arg-type]


def test_only_the_pools_task_ids_of_scoring_envs_count() -> None:
    scores = {"SAT": {1: 1.0, 9: 1.0}, "X": {7: 1.0}, "OLD": {1: 0.0}}
    assert restrict(scores, POOL, CONFIG) == {"SAT": {1: 1.0}, "ABD": {}}


def test_progress_counts_common_tasks_and_the_champions_completeness() -> None:
    champ = {"SAT": {1: 1.0, 2: 0.0, 3: 1.0}, "ABD": {4: 1.0}}
    chal = {"SAT": {1: 1.0, 2: 1.0, 99: 1.0}}
    envs = progress(champ, chal, POOL, CONFIG)
    assert list(envs) == ["SAT", "ABD"]
    sat = envs["SAT"].to_dict()
    assert (sat["common"], sat["needed"]) == (2, 2)
    assert (sat["champion_mean"], sat["challenger_mean"]) == (0.5, 1.0)
    assert (sat["champion_scored"], sat["champion_needed"]) == (3, 3)
    assert envs["ABD"].common == 0 and not envs["ABD"].decided


def test_the_champion_is_complete_at_its_share_of_every_scoring_env() -> None:
    full = {"SAT": {1: 0.0, 2: 0.0, 3: 0.0}, "ABD": {4: 0.0, 5: 0.0, 6: 0.0}}
    assert champion_complete(full, POOL, CONFIG)
    assert not champion_complete({**full, "ABD": {4: 0.0, 5: 0.0}}, POOL, CONFIG)
    assert not champion_complete(full, None, CONFIG)


def test_a_battle_at_its_deadline_ends_the_challenger_whatever_the_scores() -> None:
    d = decide(BATTLE, 150, None, None, POOL, CONFIG)
    assert d is not None and (d.step, d.reason, d.verdict) == (Step.TERMINATED, "deadline", None)


def test_infra_errors_since_the_battle_started_release_the_challenger() -> None:
    limit = CONFIG.release_after_infra_errors  # the battle started with 1 error already
    assert decide(BATTLE, 120, None, side("chal", {}, infra_errors=limit), POOL, CONFIG) is None
    d = decide(BATTLE, 120, None, side("chal", {}, infra_errors=limit + 1), POOL, CONFIG)
    assert d is not None and (d.step, d.reason) == (Step.RELEASED, f"infra_errors:{limit}")


def test_a_regression_in_one_decided_env_ends_the_battle_before_the_others_are_decided() -> None:
    champ = side("champ", {"SAT": {1: 1.0, 2: 1.0, 3: 1.0}, "ABD": {4: 1.0, 5: 1.0}}, version=7)
    chal = side("chal", {"SAT": {1: 0.0, 2: 0.0}}, version=4)
    d = decide(BATTLE, 120, champ, chal, POOL, CONFIG)
    assert d is not None and d.step is Step.TERMINATED
    assert d.reason == "lost_to_champion:early_regression_in_SAT"
    assert d.inputs is not None and (d.inputs.rule, d.inputs.champion_scorecard_version) == (
        "early_regression",
        7,
    )


def test_the_judge_decides_once_every_env_has_enough_common_tasks() -> None:
    champ = side("champ", {"SAT": {1: 0.5, 2: 0.5}, "ABD": {4: 0.5, 5: 0.5}})
    better = side("chal", {"SAT": {1: 1.0, 2: 1.0}, "ABD": {4: 1.0}})
    assert decide(BATTLE, 120, champ, better, POOL, CONFIG) is None
    better = side("chal", {"SAT": {1: 1.0, 2: 1.0}, "ABD": {4: 1.0, 5: 1.0}})
    d = decide(BATTLE, 120, champ, better, POOL, CONFIG)
    assert d is not None and d.step is Step.DETHRONED and d.verdict is not None
    assert d.verdict.winner == "challenger" and d.inputs is not None and d.inputs.rule == "judge"
    level = side("chal", {"SAT": {1: 0.5, 2: 0.5}, "ABD": {4: 0.5, 5: 0.5}})
    d = decide(BATTLE, 120, champ, level, POOL, CONFIG)
    assert d is not None and d.step is Step.TERMINATED
    assert d.reason == "lost_to_champion:insufficient_dominant_envs:0<2"


def test_the_champion_is_owed_its_pool_and_the_challenger_what_the_champion_scored() -> None:
    champ = side("champ", {"SAT": {1: 1.0}, "X": {7: 1.0}}, failures={"SAT": {2: 2}})
    chal = side("chal", {}, failures={"X": {8: 1}})
    work = owed_work(POOL, CONFIG, champ, chal)
    owed = {(w.hotkey, w.env, w.task_id, w.attempt) for w in work}
    assert {o for o in owed if o[0] == "champ"} == {
        ("champ", "SAT", 2, 2),
        ("champ", "SAT", 3, 0),
        ("champ", "ABD", 4, 0),
        ("champ", "ABD", 5, 0),
        ("champ", "ABD", 6, 0),
        ("champ", "X", 8, 0),
    }
    # Scoring envs: only what the champion scored; an env that does not vote: the whole pool.
    assert {o for o in owed if o[0] == "chal"} == {
        ("chal", "SAT", 1, 0),
        ("chal", "X", 7, 0),
        ("chal", "X", 8, 1),
    }


def test_a_sample_is_admitted_only_for_the_current_pool_a_pool_task_and_a_sampled_miner() -> None:
    sampled = [("champ", "r1")]

    def sample(pool: int = 3, env: str = "SAT", task: int = 1, hotkey: str = "champ") -> Sample:
        return Sample(pool, env, task, hotkey, "r1", 1.0)

    assert rejection(sample(), POOL, sampled) is None
    assert rejection(sample(pool=2), POOL, sampled) == "not_current_pool:2!=3"
    assert rejection(sample(), None, sampled) == "not_current_pool:3!=None"
    assert rejection(sample(task=4), POOL, sampled) == "task_not_in_pool:SAT#4"
    assert rejection(sample(env="NEW"), POOL, sampled) == "task_not_in_pool:NEW#1"
    assert rejection(sample(hotkey="other"), POOL, sampled) == "miner_not_sampled"
