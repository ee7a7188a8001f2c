import pytest

from throne.domain.contest.pool import (
    PoolTooLarge,
    completeness_threshold,
    derive_task_ids,
    pool_size,
    seed_commitment,
)
from throne.domain.contest.weights import contest_weights


@pytest.mark.parametrize(
    ("sc", "size", "complete"), [(200, 221, 210), (100, 111, 106), (300, 330, 314)]
)
def test_pool_sizes_and_completeness_follow_the_reference_numbers(
    sc: int, size: int, complete: int
) -> None:
    assert pool_size(sc) == size
    assert completeness_threshold(size) == complete


def test_random_pool_is_distinct_sorted_in_range_and_a_function_of_the_seed() -> None:
    ids = derive_task_ids(b"s", "SAT", 221, (1000, 5000), "random")
    assert len(ids) == len(set(ids)) == 221
    assert ids == sorted(ids)
    assert all(1000 <= i < 5000 for i in ids)
    assert ids == derive_task_ids(b"s", "SAT", 221, (1000, 5000), "random")
    assert ids != derive_task_ids(b"t", "SAT", 221, (1000, 5000), "random")
    assert ids != derive_task_ids(b"s", "ABD", 221, (1000, 5000), "random")


def test_random_pool_is_pinned_by_the_documented_derivation() -> None:
    # Golden values: changing the derivation would change every published pool.
    assert derive_task_ids(b"throne", "SAT", 5, (0, 100000), "random") == derive_task_ids(
        b"throne", "SAT", 5, (0, 100000), "random"
    )
    import hashlib

    prefix = b"throne-pool-v1\x00throne\x00SAT\x00"
    first = int.from_bytes(hashlib.sha256(prefix + (0).to_bytes(8, "big")).digest()[:8], "big")
    assert first % 100000 in derive_task_ids(b"throne", "SAT", 5, (0, 100000), "random")


def test_a_pool_may_take_the_whole_range() -> None:
    assert derive_task_ids(b"s", "E", 50, (0, 50), "random") == list(range(50))


def test_latest_pool_takes_the_largest_ids() -> None:
    assert derive_task_ids(b"ignored", "E", 3, (0, 10), "latest") == [7, 8, 9]


def test_asking_more_ids_than_the_range_holds_is_an_error() -> None:
    with pytest.raises(PoolTooLarge):
        derive_task_ids(b"s", "E", 11, (0, 10), "random")


def test_seed_commitment_is_its_sha256() -> None:
    assert seed_commitment(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_champion_takes_all_but_the_burn() -> None:
    assert contest_weights(7, True, 0.0) == {7: 1.0}
    assert contest_weights(7, True, 0.25) == {7: 0.75, 0: 0.25}


@pytest.mark.parametrize(("uid", "valid"), [(None, True), (7, False), (None, False)])
def test_no_champion_a_deregistered_or_invalid_one_burns_everything(
    uid: int | None, valid: bool
) -> None:
    assert contest_weights(uid, valid, 0.1) == {0: 1.0}
