import pytest

from throne.envs.registry import (
    UnknownEnvironment,
    environments,
    episodic_environments,
    get_environment,
)


def test_the_registry_holds_sat_abd_and_ded_with_honest_id_ranges() -> None:
    envs = environments()
    assert sorted(envs) == ["ABD", "DED", "SAT"]
    for name, env in envs.items():
        start, stop = env.id_range
        assert env.name == name and start == 0 and stop >= 100_000
        assert env.locate(env.task(stop - 1).prompt) == stop - 1


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownEnvironment, match="known: ABD, DED, SAT"):
        get_environment("MATH")
    assert get_environment("SAT").name == "SAT"


def test_locate_recognises_only_its_own_prompts() -> None:
    envs = environments()
    prompts = {name: env.task(11).prompt for name, env in envs.items()}
    for name, env in envs.items():
        for other, prompt in prompts.items():
            assert env.locate(prompt) == (11 if other == name else None)


@pytest.mark.parametrize("name", ["SAT", "ABD", "DED"])
def test_distinct_ids_give_distinct_prompts_without_their_reference_line(name: str) -> None:
    # The whole range is checked by bench/corpus_distinct.py; this keeps a quick sample honest.
    env = get_environment(name)
    bodies = {env.task(i).prompt.rsplit("\n", 1)[0] for i in range(500)}
    assert len(bodies) == 500


def test_guess_is_a_multi_turn_env_kept_apart_from_the_default_set() -> None:
    episodic = episodic_environments()
    assert sorted(episodic) == ["GUESS"]
    assert "GUESS" not in environments()
    guess = episodic["GUESS"]
    first = guess.episode(guess.id_range[1] - 1, 0).first_observation
    assert guess.locate(first) == guess.id_range[1] - 1
    assert all(env.locate(first) is None for env in environments().values())
