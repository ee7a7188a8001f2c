"""Our u16 conversion is bittensor 11's: the reference's worked examples and random inputs."""

from __future__ import annotations

import pytest
from bittensor.intents import normalize
from hypothesis import given
from hypothesis import strategies as st

from throne.domain.contest.weights import InvalidWeights, to_u16


def test_worked_example_scales_by_the_largest_and_drops_zeros() -> None:
    # normalize([3, 1, 7, 9], [.1, .6, .3, 0]) -> ([3, 1, 7], [10923, 65535, 32768])
    assert to_u16({3: 0.1, 1: 0.6, 7: 0.3, 9: 0.0}) == ((1, 65535), (3, 10923), (7, 32768))


def test_worked_example_of_three_relative_weights() -> None:
    assert to_u16({1: 0.5, 2: 0.3, 3: 0.2}) == ((1, 65535), (2, 39321), (3, 26214))


def test_a_winner_take_all_row_with_a_burn_to_uid_zero() -> None:
    assert to_u16({0: 0.1, 42: 0.9}) == ((0, 7282), (42, 65535))


@pytest.mark.parametrize("bad", [{}, {1: 0.0}, {1: -0.5}, {1: float("inf")}, {70000: 1.0}])
def test_weights_no_chain_accepts_are_rejected(bad: dict[int, float]) -> None:
    with pytest.raises(InvalidWeights):
        to_u16(bad)


weights = st.dictionaries(
    st.integers(0, 65535),
    st.one_of(st.just(0.0), st.floats(0, 1e6, allow_nan=False, allow_infinity=False)),
    min_size=1,
    max_size=40,
)


@given(weights)
def test_to_u16_agrees_with_the_sdks_normalize(w: dict[int, float]) -> None:
    uids = sorted(w)
    sdk_uids, sdk_values = normalize(uids, [w[u] for u in uids])
    if not sdk_uids:
        with pytest.raises(InvalidWeights):
            to_u16(w)
        return
    assert to_u16(w) == tuple(zip(sdk_uids, sdk_values, strict=True))
