from throne.envs.prng import Stream, task_stream


def test_a_stream_is_a_pure_function_of_its_key() -> None:
    a, b = Stream("SAT:1:7"), Stream("SAT:1:7")
    assert [a.u64() for _ in range(300)] == [b.u64() for _ in range(300)]
    assert Stream("SAT:1:8").u64() != Stream("SAT:1:7").u64()


def test_stream_values_are_pinned_across_machines_and_versions() -> None:
    # Any change here changes every task: it needs a new env version.
    rng = task_stream("SAT", "1", 0)
    assert [rng.below(1000) for _ in range(5)] == PINNED


PINNED = [616, 463, 523, 890, 160]


def test_bounded_draws_stay_in_range_and_samples_are_distinct() -> None:
    rng = Stream("bounds")
    assert all(0 <= rng.below(7) < 7 for _ in range(500))
    assert all(-3 <= rng.between(-3, 3) <= 3 for _ in range(500))
    assert {rng.between(-3, 3) for _ in range(500)} == set(range(-3, 4))
    sample = rng.sample(range(20), 10)
    assert len(set(sample)) == 10


def test_children_do_not_depend_on_draws_made_from_the_parent() -> None:
    a, b = Stream("p"), Stream("p")
    a.u64()
    assert a.child("x").u64() == b.child("x").u64()
