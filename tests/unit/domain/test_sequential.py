"""The paired group-sequential test: its bounds, its looks and its decisions."""

import itertools
import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from throne.domain.contest.sequential import (
    SequentialParams,
    efficacy_bounds,
    look_sizes,
    sequential_test,
)
from throne.domain.contest.sequential_bounds import normal_cdf, normal_isf, normal_ppf, normal_sf

Pairs = dict[str, list[tuple[float, float]]]

COUNTS = {"SAT": 200, "ABD": 100, "DED": 300}
DEFAULT = SequentialParams()


def simulated(
    rng: random.Random, counts: dict[str, int], delta: float, p: float = 0.5, rho: float = 0.5
) -> Pairs:
    """Pass/fail pairs: with probability ``rho`` both sides share one draw (task difficulty)."""
    out: Pairs = {}
    for env, n in counts.items():
        rows = []
        for _ in range(n):
            if rng.random() < rho:
                u = rng.random()
                champ, chal = u < p, u < p + delta
            else:
                champ, chal = rng.random() < p, rng.random() < p + delta
            rows.append((float(champ), float(chal)))
        out[env] = rows
    return out


def copy_of(champion: dict[str, list[float]]) -> Pairs:
    return {env: [(s, s) for s in scores] for env, scores in champion.items()}


# ---------------------------------------------------------------- the normal law


@given(st.floats(1e-300, 1.0 - 1e-12, exclude_max=True))
def test_the_normal_quantile_inverts_the_cdf(p: float) -> None:
    x = normal_ppf(p)
    back = normal_cdf(x) if p <= 0.5 else 1.0 - normal_sf(x)
    assert back == pytest.approx(p, rel=1e-12, abs=1e-15)


@given(st.floats(1e-300, 0.5))
def test_the_upper_quantile_keeps_tiny_tail_probabilities(q: float) -> None:
    assert normal_sf(normal_isf(q)) == pytest.approx(q, rel=1e-12)


def test_the_normal_quantile_rejects_impossible_probabilities() -> None:
    for p in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            normal_ppf(p)


# ---------------------------------------------------------------- the bounds


def test_the_bounds_match_the_published_obrien_fleming_type_spending_bounds() -> None:
    # one-sided alpha = 0.025, five equally spaced looks (Jennison & Turnbull 2000; gsDesign)
    published = (4.877, 3.357, 2.680, 2.290, 2.031)
    assert efficacy_bounds(0.025, 5) == pytest.approx(published, abs=1e-3)


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.025, 0.05])
def test_a_single_look_is_the_fixed_sample_quantile(alpha: float) -> None:
    (bound,) = efficacy_bounds(alpha, 1)
    assert bound == pytest.approx(normal_isf(alpha), abs=1e-12)


@pytest.mark.parametrize(("alpha", "looks"), [(0.01, 10), (0.01 / 3, 10), (0.05, 4)])
def test_the_bounds_fall_from_look_to_look_and_end_above_the_fixed_sample_one(
    alpha: float, looks: int
) -> None:
    bounds = efficacy_bounds(alpha, looks)
    assert len(bounds) == looks
    assert all(a > b for a, b in itertools.pairwise(bounds))
    assert bounds[-1] > normal_isf(alpha)


def test_an_equal_challenger_crosses_some_bound_with_probability_alpha() -> None:
    # The standardised statistic of a Brownian score process seen at K equally spaced times.
    alpha, looks, paths = 0.025, 5, 40_000
    bounds = efficacy_bounds(alpha, looks)
    rng = random.Random(20001)
    crossed = 0
    for _ in range(paths):
        score = 0.0
        for k, bound in enumerate(bounds, start=1):
            score += rng.gauss(0.0, 1.0)
            if score / math.sqrt(k) >= bound:
                crossed += 1
                break
    # the standard error of the estimate is about 0.0008; checking every look at the
    # fixed-sample bound instead would cross in about 0.07 of the paths
    assert crossed / paths == pytest.approx(alpha, abs=0.004)


def test_the_bounds_reject_a_meaningless_alpha_or_number_of_looks() -> None:
    with pytest.raises(ValueError):
        efficacy_bounds(0.0, 5)
    with pytest.raises(ValueError):
        efficacy_bounds(0.025, 0)


# ---------------------------------------------------------------- the looks


def test_look_sizes_are_the_ceilings_of_equal_fractions() -> None:
    assert look_sizes(200, 10) == tuple(range(20, 201, 20))
    assert look_sizes(5, 10) == (1, 1, 2, 2, 3, 3, 4, 4, 5, 5)
    assert look_sizes(7, 3) == (3, 5, 7)


@given(st.integers(1, 5000), st.integers(1, 40))
def test_the_last_look_counts_the_whole_sampling_count(sampling_count: int, looks: int) -> None:
    sizes = look_sizes(sampling_count, looks)
    assert sizes[-1] == sampling_count
    assert list(sizes) == sorted(sizes)
    assert sizes[0] >= 1


def test_no_look_is_reached_until_every_env_has_its_first_look() -> None:
    pairs = simulated(random.Random(1), COUNTS, 0.3)
    pairs["ABD"] = pairs["ABD"][:9]  # its first look needs 10
    result = sequential_test(pairs, COUNTS, DEFAULT)
    assert result.decision is None
    assert result.look == 0
    assert result.reason == "sequential_inconclusive_at_look_0_of_10"


def test_an_env_without_pairs_holds_every_look_back() -> None:
    pairs = simulated(random.Random(1), COUNTS, 0.3)
    del pairs["DED"]
    assert sequential_test(pairs, COUNTS, DEFAULT).look == 0


def test_an_inconclusive_battle_reports_the_last_look_reached() -> None:
    pairs = simulated(random.Random(3), COUNTS, 0.05)
    cut = {env: rows[: look_sizes(COUNTS[env], 10)[1]] for env, rows in pairs.items()}
    result = sequential_test(cut, COUNTS, SequentialParams(futility_z=50.0))
    assert result.decision is None
    assert result.look == 2
    assert result.reason == "sequential_inconclusive_at_look_2_of_10"
    assert {env: v.n for env, v in result.per_env.items()} == {"SAT": 40, "ABD": 20, "DED": 60}


def test_only_the_first_look_sizes_pairs_count() -> None:
    pairs = simulated(random.Random(4), COUNTS, 0.0)
    padded = {env: [*rows, *[(0.0, 1.0)] * 500] for env, rows in pairs.items()}
    params = SequentialParams(futility_z=50.0)
    assert sequential_test(padded, COUNTS, params) == sequential_test(pairs, COUNTS, params)


# ---------------------------------------------------------------- the decisions


def test_a_clearly_better_challenger_dethrones_at_an_early_look() -> None:
    result = sequential_test(simulated(random.Random(5), COUNTS, 0.3), COUNTS, DEFAULT)
    assert result.decision == "dethrone"
    assert result.look < 10
    assert result.reason == f"sequential_better_at_look_{result.look}_of_10"
    assert result.evidence["statistic"] >= result.evidence["bound"]


def test_a_clearly_worse_challenger_stops_at_an_early_look() -> None:
    result = sequential_test(simulated(random.Random(6), COUNTS, -0.3), COUNTS, DEFAULT)
    assert result.decision == "terminate"
    assert result.look <= 2
    assert result.reason == f"sequential_futility_at_look_{result.look}_of_10"


def test_an_exact_copy_of_the_champion_is_stopped_before_the_last_look() -> None:
    champion = {env: [float(i % 3 == 0) for i in range(n)] for env, n in COUNTS.items()}
    result = sequential_test(copy_of(champion), COUNTS, DEFAULT)
    assert result.decision == "terminate"
    assert result.reason.startswith("sequential_futility_")
    assert result.look < 10


def test_a_challenger_not_better_at_the_last_look_is_terminated() -> None:
    champion = {env: [float(i % 2) for i in range(n)] for env, n in COUNTS.items()}
    result = sequential_test(copy_of(champion), COUNTS, SequentialParams(futility_z=50.0))
    assert result.decision == "terminate"
    assert result.look == 10
    assert result.reason == "sequential_not_better_at_look_10_of_10"


def test_a_significantly_worse_env_blocks_the_dethrone() -> None:
    counts = {"SAT": 100, "ABD": 100, "DED": 100}
    pairs: Pairs = {
        "SAT": [(0.0, 1.0)] * 100,
        "ABD": [(0.0, 1.0)] * 100,
        "DED": [(1.0, 0.0 if i % 4 == 0 else 1.0) for i in range(100)],  # 25 points worse
    }
    result = sequential_test(pairs, counts, DEFAULT)
    assert result.decision == "terminate"
    assert result.reason == "sequential_worse_in_env:DED_at_look_10_of_10"
    assert result.per_env["DED"].outcome == "worse"
    assert result.evidence["statistic"] >= result.evidence["bound"]  # it would have won


def test_per_env_mode_needs_as_many_envs_better_as_it_asks_for() -> None:
    counts = {"SAT": 100, "ABD": 100, "DED": 100}
    equal = [(float(i % 2), float(i % 2)) for i in range(100)]
    pairs: Pairs = {"SAT": simulated(random.Random(7), {"SAT": 100}, 0.4)["SAT"]}
    pairs |= {"ABD": equal, "DED": equal}
    one = sequential_test(pairs, counts, SequentialParams(min_dominant_envs=1))
    two = sequential_test(pairs, counts, SequentialParams(min_dominant_envs=2))
    assert one.decision == "dethrone"
    assert one.per_env["SAT"].outcome == "dominant"
    assert two.decision == "terminate"
    assert two.reason.startswith("sequential_futility_at_look_")  # no second env can catch up
    assert two.evidence["dominant_envs"] == 1


def test_per_env_mode_spends_alpha_across_the_envs() -> None:
    pairs = simulated(random.Random(8), COUNTS, 0.02)
    params = SequentialParams(min_dominant_envs=1, futility_z=50.0)
    result = sequential_test(pairs, COUNTS, params)
    assert result.evidence["bound_alpha"] == pytest.approx(0.01 / 3)
    assert result.evidence["bound"] == efficacy_bounds(0.01 / 3, 10)[result.look - 1]
    assert result.evidence["bound"] > efficacy_bounds(0.01, 10)[result.look - 1]


def test_without_envs_the_champion_holds() -> None:
    result = sequential_test({}, {}, DEFAULT)
    assert result.decision == "terminate"
    assert result.look == 0


def test_the_evidence_is_json_and_rechecks_the_overall_statistic() -> None:
    result = sequential_test(simulated(random.Random(9), COUNTS, 0.1), COUNTS, DEFAULT)
    ev = json.loads(json.dumps(result.evidence, allow_nan=False))
    assert ev["method"] == "group_sequential_obf"
    assert (ev["alpha"], ev["looks"], ev["look"]) == (0.01, 10, result.look)
    envs = ev["envs"]
    assert {env: rec["n"] for env, rec in envs.items()} == {
        env: look_sizes(n, 10)[result.look - 1] for env, n in COUNTS.items()
    }
    # Every pair weighs the same: the envs' differences weighted by their pairs.
    total = sum(rec["n"] for rec in envs.values())
    d = math.fsum(rec["n"] * rec["diff"] for rec in envs.values()) / total
    se = math.sqrt(math.fsum((rec["n"] * rec["se"]) ** 2 for rec in envs.values())) / total
    assert ev["statistic"] == pytest.approx(d / se)
    assert ev["bound"] == efficacy_bounds(0.01, 10)[result.look - 1]
    for env, rec in envs.items():
        assert rec["z"] == pytest.approx(rec["diff"] / rec["se"])
        assert rec["diff"] == pytest.approx(rec["challenger_mean"] - rec["champion_mean"])
        assert result.per_env[env].to_dict() == {k: rec[k] for k in result.per_env[env].to_dict()}


@pytest.mark.parametrize(
    "counts", [{"SAT": 60, "ABD": 30, "DED": 90}, {"SAT": 10, "ABD": 5, "DED": 10}]
)
def test_equal_challengers_dethrone_at_about_alpha(counts: dict[str, int]) -> None:
    # 2,000 simulated battles of an equal challenger at alpha = 0.05, fixed seed: the standard
    # error of the rate is about 0.005. With a handful of pass/fail pairs per look the sample
    # variance is often 0: a floor that ignored n let 1 battle in 4 through at the first look.
    params = SequentialParams(alpha=0.05)
    rng = random.Random(20002)
    battles = 2000
    won = sum(
        sequential_test(simulated(rng, counts, 0.0), counts, params).decision == "dethrone"
        for _ in range(battles)
    )
    assert 0.02 <= won / battles <= 0.08


def test_winning_one_pair_per_env_is_not_conclusive() -> None:
    counts = {"SAT": 5, "ABD": 5, "DED": 5}
    pairs: Pairs = {env: [(0.0, 1.0)] * 5 for env in counts}
    params = SequentialParams(looks=5)
    first = sequential_test({env: rows[:1] for env, rows in pairs.items()}, counts, params)
    assert first.decision is None
    assert all(math.isfinite(v.z) for v in first.per_env.values())
    assert sequential_test(pairs, counts, params).decision == "dethrone"


# ---------------------------------------------------------------- properties

score = st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0)
counts_st = st.dictionaries(st.sampled_from(["SAT", "ABD", "DED"]), st.integers(1, 30), min_size=1)
params_st = st.builds(
    SequentialParams,
    looks=st.integers(1, 5),
    futility_z=st.sampled_from([1.0, 2.0, 50.0]),
    min_dominant_envs=st.integers(0, 3),
)


@st.composite
def battles(draw: st.DrawFn) -> tuple[dict[str, int], Pairs]:
    counts = draw(counts_st)
    pairs = {
        env: draw(st.lists(st.tuples(score, score), min_size=0, max_size=n + 5))
        for env, n in counts.items()
    }
    return counts, pairs


@settings(max_examples=60, deadline=None)
@given(counts_st, params_st, st.data())
def test_an_exact_copy_of_the_champion_never_dethrones(
    counts: dict[str, int], params: SequentialParams, data: st.DataObject
) -> None:
    champion = {
        env: data.draw(st.lists(score, min_size=n, max_size=n)) for env, n in counts.items()
    }
    assert sequential_test(copy_of(champion), counts, params).decision != "dethrone"


@settings(max_examples=60, deadline=None)
@given(battles(), params_st, st.data())
def test_appending_pairs_never_changes_a_decision_already_taken(
    battle: tuple[dict[str, int], Pairs], params: SequentialParams, data: st.DataObject
) -> None:
    counts, pairs = battle
    before = sequential_test(pairs, counts, params)
    longer = {
        env: [*rows, *data.draw(st.lists(st.tuples(score, score), max_size=20))]
        for env, rows in pairs.items()
    }
    after = sequential_test(longer, counts, params)
    if before.decision is not None:
        assert after == before
    else:
        assert after.look >= before.look


@settings(max_examples=60, deadline=None)
@given(battles(), params_st)
def test_the_order_of_the_envs_does_not_change_the_outcome(
    battle: tuple[dict[str, int], Pairs], params: SequentialParams
) -> None:
    counts, pairs = battle
    reordered = dict(reversed(list(counts.items())))
    a, b = sequential_test(pairs, counts, params), sequential_test(pairs, reordered, params)
    assert (a.decision, a.reason, a.look, a.per_env) == (b.decision, b.reason, b.look, b.per_env)
