"""The one-sided group-sequential bounds and the normal law they rest on."""

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from throne.domain.contest.sequential_bounds import (
    efficacy_bounds,
    normal_cdf,
    normal_isf,
    normal_ppf,
    normal_sf,
)

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
