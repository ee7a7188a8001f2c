"""The seeds' epsilon-Pareto rule between a challenger and the champion."""

import math

from hypothesis import given
from hypothesis import strategies as st

from throne.domain.contest.pareto import ParetoParams, margins, pareto_judge
from throne.domain.contest.rules import Verdict

DEFAULT = ParetoParams()


def pairs(champion: list[float], challenger: list[float]) -> list[tuple[float, float]]:
    return list(zip(champion, challenger, strict=True))


def rate(successes: int, n: int) -> list[float]:
    return [1.0] * successes + [0.0] * (n - successes)


def test_the_margins_scale_with_the_noise_of_the_two_means() -> None:
    # p = 0.5 on both sides, 100 tasks: sd = sqrt(2 * 0.25 / 100)
    sd = math.sqrt(0.005)
    nw, bet = margins(0.5, 0.5, 100, DEFAULT)
    assert nw == max(0.005, 1.28 * sd)
    assert bet == max(0.015, 0.5 * sd)


def test_certain_means_fall_back_to_the_floors() -> None:
    nw, bet = margins(1.0, 1.0, 50, DEFAULT)
    assert nw == DEFAULT.eps_floor
    assert bet == min(DEFAULT.eps_win, DEFAULT.eps_floor)  # the win margin is capped by nw


def test_the_variance_stops_shrinking_at_1000_tasks() -> None:
    assert margins(0.4, 0.5, 1000, DEFAULT) == margins(0.4, 0.5, 50_000, DEFAULT)
    assert margins(0.4, 0.5, 999, DEFAULT) != margins(0.4, 0.5, 1000, DEFAULT)


def test_means_outside_the_unit_range_count_as_certain_for_the_variance() -> None:
    assert margins(1.3, -0.2, 10, DEFAULT) == margins(1.0, 0.0, 10, DEFAULT)


def test_without_a_z_for_winning_the_win_margin_is_the_fixed_epsilon() -> None:
    august = ParetoParams(eps_floor=0.002, z_not_worse=0.84, eps_win=0.0015, z_win=0.0)
    nw, bet = margins(0.5, 0.5, 100, august)
    assert bet == 0.0015
    assert nw == 0.84 * math.sqrt(0.005)


@given(
    st.floats(-0.5, 1.5),
    st.floats(-0.5, 1.5),
    st.integers(0, 3000),
    st.floats(0.0, 0.1),
    st.floats(0.0, 3.0),
    st.floats(0.0, 0.1),
    st.floats(-1.0, 3.0),
)
def test_the_win_margin_never_exceeds_the_not_worse_margin(
    b: float, a: float, n: int, floor: float, znw: float, win: float, zwin: float
) -> None:
    nw, bet = margins(b, a, n, ParetoParams(floor, znw, win, zwin))
    assert 0.0 <= bet <= nw


def test_better_by_the_win_margin_in_one_env_and_not_worse_elsewhere_wins() -> None:
    v = pareto_judge(
        {
            "SAT": pairs(rate(50, 100), rate(60, 100)),  # +0.10 > bet (about 0.035)
            "ABD": pairs(rate(50, 100), rate(49, 100)),  # -0.01 within nw (about 0.09)
        },
        DEFAULT,
    )
    assert v.winner == "challenger"
    assert v.reason == "pareto_dominant_in:SAT"
    assert v.per_env["SAT"].verdict == "dominant"
    assert v.per_env["ABD"].verdict == "not_worse"
    assert v.per_env["SAT"].n == 100


def test_the_thresholds_are_the_champion_mean_plus_and_minus_the_margins() -> None:
    v = pareto_judge({"SAT": pairs(rate(40, 100), rate(45, 100))}, DEFAULT)
    nw, bet = margins(0.4, 0.45, 100, DEFAULT)
    env = v.per_env["SAT"]
    assert env.champion_mean == 0.4
    assert env.challenger_mean == 0.45
    assert env.dominant_threshold == 0.4 + bet
    assert env.not_worse_threshold == 0.4 - nw


def test_a_tie_holds_for_the_champion() -> None:
    v = pareto_judge(
        {
            "SAT": pairs(rate(50, 100), rate(52, 100)),
            "ABD": pairs(rate(50, 100), rate(50, 100)),
        },
        DEFAULT,
    )
    assert v.winner == "champion"
    assert v.reason == "pareto_tie_holds_for_champion"
    assert {e.verdict for e in v.per_env.values()} == {"not_worse"}


def test_one_worse_env_keeps_the_champion_even_beside_a_dominant_one() -> None:
    v = pareto_judge(
        {
            "SAT": pairs(rate(50, 100), rate(80, 100)),
            "ABD": pairs(rate(50, 100), rate(30, 100)),  # -0.20, beyond nw
        },
        DEFAULT,
    )
    assert v.winner == "champion"
    assert v.reason == "pareto_worse_in:ABD"
    assert v.per_env["ABD"].verdict == "worse"
    assert v.per_env["SAT"].verdict == "dominant"


def test_both_thresholds_are_inclusive() -> None:
    fixed = ParetoParams(eps_floor=0.02, z_not_worse=0.0, eps_win=0.01, z_win=0.0)

    def verdict(challenger: float) -> str:
        return (
            pareto_judge({"SAT": pairs([0.5] * 10, [challenger] * 10)}, fixed)
            .per_env["SAT"]
            .verdict
        )

    assert verdict(0.51) == "dominant"
    assert verdict(0.5099) == "not_worse"
    assert verdict(0.48) == "not_worse"
    assert verdict(0.4799) == "worse"


def test_an_env_without_paired_tasks_is_worse() -> None:
    v = pareto_judge({"SAT": pairs(rate(5, 10), rate(9, 10)), "ABD": []}, DEFAULT)
    assert v.winner == "champion"
    assert v.per_env["ABD"].verdict == "worse"
    assert v.per_env["ABD"].n == 0


def test_without_envs_the_champion_holds() -> None:
    assert pareto_judge({}, DEFAULT).winner == "champion"


def test_the_verdict_round_trips_through_its_dict() -> None:
    v = pareto_judge({"SAT": pairs(rate(50, 100), rate(70, 100))}, DEFAULT)
    assert Verdict.from_dict(v.to_dict()) == v


scores = st.lists(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0), min_size=1, max_size=60)
env_pairs = scores.flatmap(
    lambda champ: st.lists(
        st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0),
        min_size=len(champ),
        max_size=len(champ),
    ).map(lambda chal: pairs(champ, chal))
)


@given(st.dictionaries(st.sampled_from(["SAT", "ABD", "DED"]), scores, min_size=1))
def test_an_exact_copy_of_the_champion_never_wins(sides: dict[str, list[float]]) -> None:
    v = pareto_judge({env: pairs(s, s) for env, s in sides.items()}, DEFAULT)
    assert v.winner == "champion"


@given(st.dictionaries(st.sampled_from(["SAT", "ABD", "DED"]), env_pairs, min_size=1))
def test_the_order_of_the_envs_does_not_change_the_verdict(
    battle: dict[str, list[tuple[float, float]]],
) -> None:
    reordered = dict(reversed(list(battle.items())))
    a, b = pareto_judge(battle, DEFAULT), pareto_judge(reordered, DEFAULT)
    assert (a.winner, a.reason, a.per_env) == (b.winner, b.reason, b.per_env)
