"""Every boundary of the verdict rule."""

import pytest

from throne.domain.contest.rules import ContestRules, EnvRule, judge


def side(**envs: list[float]) -> dict[str, dict[int, float]]:
    return {env: dict(enumerate(scores)) for env, scores in envs.items()}


ONE = ContestRules(envs={"A": EnvRule()})


def test_challenger_above_champion_plus_margin_is_dominant_and_wins() -> None:
    v = judge(side(A=[0.5, 0.5]), side(A=[0.6, 0.6]), ONE)
    assert v.winner == "challenger"
    assert v.per_env["A"].verdict == "dominant"
    assert v.reason == "dominant_in_1_of_1_envs"


def test_exactly_champion_plus_margin_is_not_dominant() -> None:
    v = judge(side(A=[0.5]), side(A=[0.53]), ONE)
    assert v.per_env["A"].verdict == "not_worse"
    assert v.winner == "champion"


def test_dominance_is_strict_beyond_the_slack() -> None:
    v = judge(side(A=[0.5]), side(A=[0.5 + 0.03 + 2e-9]), ONE)
    assert v.per_env["A"].verdict == "dominant"
    v = judge(side(A=[0.5]), side(A=[0.5 + 0.03 + 0.5e-9]), ONE)
    assert v.per_env["A"].verdict == "not_worse"


def test_exactly_the_not_worse_bound_is_not_worse() -> None:
    v = judge(side(A=[0.5]), side(A=[0.49]), ONE)  # 0.5 * 0.98 = 0.49
    assert v.per_env["A"].verdict == "not_worse"
    assert v.per_env["A"].not_worse_threshold == pytest.approx(0.49)


def test_just_below_the_not_worse_bound_is_worse() -> None:
    v = judge(side(A=[0.5]), side(A=[0.49 - 2e-9]), ONE)
    assert v.per_env["A"].verdict == "worse"
    assert v.reason == "regressed_in_env:A:below_not_worse_bound"


def test_additive_envs_use_the_margin_below_the_champion() -> None:
    rules = ContestRules(envs={"D": EnvRule(margin=0.1, additive=True)})
    assert judge(side(D=[-0.2]), side(D=[-0.3]), rules).per_env["D"].verdict == "not_worse"
    assert judge(side(D=[-0.2]), side(D=[-0.31]), rules).per_env["D"].verdict == "worse"
    assert judge(side(D=[-0.2]), side(D=[-0.09]), rules).per_env["D"].verdict == "dominant"


def test_only_tasks_both_sides_scored_count() -> None:
    champion = {"A": {1: 1.0, 2: 0.0, 3: 0.0}}
    challenger = {"A": {1: 1.0, 4: 1.0}}
    v = judge(champion, challenger, ONE)
    assert v.per_env["A"].n == 1
    assert v.per_env["A"].champion_mean == 1.0
    assert v.per_env["A"].challenger_mean == 1.0
    assert v.per_env["A"].verdict == "not_worse"


def test_champion_without_scores_in_an_env_is_compared_against_zero() -> None:
    v = judge({"A": {}}, side(A=[0.5, 0.5, 0.0]), ONE)
    assert v.per_env["A"].champion_mean == 0.0
    assert v.per_env["A"].n == 3
    assert v.per_env["A"].verdict == "dominant"


def test_fewer_common_tasks_than_min_samples_is_worse() -> None:
    rules = ContestRules(envs={"A": EnvRule(min_samples=3)})
    v = judge(side(A=[0.0, 0.0]), side(A=[1.0, 1.0]), rules)
    assert v.per_env["A"].verdict == "worse"
    assert v.per_env["A"].reason == "insufficient_samples:2<3"


def test_no_common_tasks_is_worse_even_with_min_samples_zero() -> None:
    rules = ContestRules(envs={"A": EnvRule(min_samples=0)})
    v = judge({"A": {1: 1.0}}, {"A": {2: 1.0}}, rules)
    assert v.per_env["A"].verdict == "worse"


def test_strict_rule_needs_every_env_dominant() -> None:
    rules = ContestRules(envs={"A": EnvRule(), "B": EnvRule()}, min_dominant_envs=0)
    v = judge(side(A=[0.5], B=[0.5]), side(A=[0.9], B=[0.5]), rules)
    assert v.winner == "champion"
    assert v.reason == "insufficient_dominant_envs:1<2"
    v = judge(side(A=[0.5], B=[0.5]), side(A=[0.9], B=[0.9]), rules)
    assert v.winner == "challenger"


def test_partial_rule_needs_n_dominant_and_none_worse() -> None:
    rules = ContestRules(envs={"A": EnvRule(), "B": EnvRule()}, min_dominant_envs=1)
    assert judge(side(A=[0.5], B=[0.5]), side(A=[0.9], B=[0.5]), rules).winner == "challenger"
    lost = judge(side(A=[0.5], B=[0.5]), side(A=[0.9], B=[0.1]), rules)
    assert lost.winner == "champion"
    assert lost.reason.startswith("regressed_in_env:B")
    held = judge(side(A=[0.5], B=[0.5]), side(A=[0.5], B=[0.5]), rules)
    assert held.reason == "insufficient_dominant_envs:0<1"


def test_no_envs_means_the_champion_holds() -> None:
    v = judge({}, {"A": {1: 1.0}}, ContestRules())
    assert v.winner == "champion"
    assert v.per_env == {}


def test_envs_not_in_the_rules_never_vote() -> None:
    v = judge(side(A=[0.5], X=[1.0]), side(A=[0.9], X=[0.0]), ONE)
    assert v.winner == "challenger"
    assert "X" not in v.per_env


def test_means_do_not_depend_on_order() -> None:
    scores = [0.1] * 10 + [0.7, 0.2]
    forward = judge(side(A=[0.3] * 12), side(A=scores), ONE)
    backward = judge(side(A=[0.3] * 12), side(A=list(reversed(scores))), ONE)
    assert forward.per_env["A"].challenger_mean == backward.per_env["A"].challenger_mean


def test_verdict_round_trips_through_a_dict() -> None:
    from throne.domain.contest.rules import Verdict

    v = judge(side(A=[0.5]), side(A=[0.9]), ONE)
    assert Verdict.from_dict(v.to_dict()) == v
