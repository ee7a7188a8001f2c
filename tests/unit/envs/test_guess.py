"""GUESS: a game per task id, feedback per turn, and the local miners' two strategies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from throne.envs.base import TaskIdOutOfRange
from throne.envs.episodic import MAX_OPEN_EPISODES, Episodes, UnknownEpisode
from throne.envs.guess import TOP_MAX, TOP_MIN, GuessEnvironment
from throne.envs.protocol import Step
from throne.envs.tag import parse_tag

ENV = GuessEnvironment()
IDS = range(300)


def play(env: GuessEnvironment, task_id: int, solves: bool) -> tuple[list[str], float, int]:
    """A whole game by the local miner's strategy: the observations, the reward, the turns."""
    episode = env.episode(task_id, seed=0)
    observations = [episode.first_observation]
    for turn in range(1, env.max_turns + 1):
        reply = episode.act(env.next_action(task_id, observations, solves))
        observations.append(reply.observation)
        if reply.done:
            return observations, reply.reward, turn
    raise AssertionError(f"task {task_id}: no end after {env.max_turns} turns")


def test_a_game_is_a_pure_function_of_its_task_id() -> None:
    assert [ENV.game(i) for i in IDS] == [GuessEnvironment().game(i) for i in IDS]
    assert len({(ENV.game(i).top, ENV.game(i).secret) for i in IDS}) > 250
    for task_id in IDS:
        game = ENV.game(task_id)
        assert TOP_MIN <= game.top <= TOP_MAX and 1 <= game.secret <= game.top


def test_the_same_actions_get_the_same_observations_and_rewards() -> None:
    actions = ["<answer>500</answer>", "five hundred", "<answer>250</answer>", "<answer>1</answer>"]
    for task_id in (0, 17, 999_999):
        runs = []
        for seed in (0, 1):
            episode = ENV.episode(task_id, seed)
            runs.append([episode.first_observation, *(episode.act(a) for a in actions)])
        assert runs[0] == runs[1]


def test_the_first_observation_states_range_turns_format_and_ends_with_the_tag() -> None:
    game = ENV.game(42)
    first = ENV.episode(42, 0).first_observation
    assert f"between 1 and {game.top}" in first and "12 turns" in first
    assert "<answer>...</answer>" in first
    assert parse_tag(first) == ("GUESS", "1", 42)
    assert ENV.locate(first) == 42
    assert ENV.locate(first.replace("GUESS", "SAT")) is None


def test_task_ids_outside_the_range_are_refused() -> None:
    with pytest.raises(TaskIdOutOfRange):
        ENV.episode(1_000_000, 0)
    with pytest.raises(TaskIdOutOfRange):
        ENV.game(-1)


def test_feedback_says_higher_or_lower_and_the_right_number_wins() -> None:
    game = ENV.game(7)
    episode = ENV.episode(7, 0)
    low = episode.act(f"<answer>{game.secret - 1}</answer>")
    high = episode.act(f"I think <answer> {game.secret + 1} </answer>")
    assert "too low: the number is higher" in low.observation and not low.done
    assert "too high: the number is lower" in high.observation and not high.done
    assert "10 turns left" in high.observation
    won = episode.act(f"<think><answer>1</answer></think><answer>{game.secret}</answer>")
    assert (won.reward, won.done) == (1.0, True)
    assert episode.act("<answer>1</answer>") == won


def test_an_answer_off_the_format_wastes_the_turn_and_restates_the_format() -> None:
    game = ENV.game(3)
    episode = ENV.episode(3, 0)
    for wasted in (str(game.secret), "<answer>ten</answer>", "<answer>1.5</answer>", ""):
        reply = episode.act(wasted)
        assert "No guess found" in reply.observation and "<answer>" in reply.observation
        assert (reply.reward, reply.done) == (0.0, False)
    assert "8 turns left" in reply.observation


def test_a_game_never_solved_scores_zero_and_tells_the_number() -> None:
    game = ENV.game(11)
    episode = ENV.episode(11, 0)
    wrong = 1 if game.secret != 1 else 2
    replies = [episode.act(f"<answer>{wrong}</answer>") for _ in range(ENV.max_turns)]
    assert [r.done for r in replies] == [False] * (ENV.max_turns - 1) + [True]
    assert replies[-1].reward == 0.0
    assert f"the number was {game.secret}" in replies[-1].observation


def test_a_guess_outside_the_range_is_a_number_told_higher_or_lower() -> None:
    episode = ENV.episode(5, 0)
    assert "too high" in episode.act(f"<answer>{TOP_MAX + 1}</answer>").observation
    assert "too low" in episode.act("<answer>-3</answer>").observation


def test_the_solving_strategy_always_wins_within_the_turns() -> None:
    for task_id in IDS:
        observations, reward, turns = play(ENV, task_id, solves=True)
        assert reward == 1.0, observations
        assert turns <= 10


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 999_999))
def test_the_solving_strategy_wins_any_task(task_id: int) -> None:
    assert play(ENV, task_id, solves=True)[1] == 1.0


def test_the_poor_strategy_never_wins_but_always_answers_in_format() -> None:
    for task_id in IDS:
        observations, reward, turns = play(ENV, task_id, solves=False)
        assert (reward, turns) == (0.0, ENV.max_turns)
        assert not any("No guess found" in o for o in observations)


def test_the_poor_strategy_loses_however_many_turns_it_gets() -> None:
    generous = GuessEnvironment(max_turns=50)
    for task_id in range(0, 3000, 37):
        assert play(generous, task_id, solves=False)[1] == 0.0


def test_episodes_are_kept_by_id_until_stopped() -> None:
    episodes = Episodes(ENV)
    first = episodes.reset(8, 0)
    other = episodes.reset(8, 0)
    assert first.episode_id != other.episode_id and first.observation == other.observation
    secret = ENV.game(8).secret
    won = episodes.step(first.episode_id, f"<answer>{secret}</answer>")
    assert (won.reward, won.done) == (1.0, True)
    assert episodes.step(first.episode_id, "<answer>1</answer>") == won
    assert episodes.state(first.episode_id) == won
    assert episodes.state(other.episode_id) == other
    assert episodes.stop(first.episode_id) == won
    assert episodes.stop(first.episode_id) is None
    with pytest.raises(UnknownEpisode):
        episodes.step(first.episode_id, "<answer>1</answer>")
    with pytest.raises(UnknownEpisode):
        episodes.state("never-started")
    assert len(episodes) == 1


def test_the_table_drops_the_oldest_episode_past_its_cap() -> None:
    episodes = Episodes(ENV)
    steps: list[Step] = [episodes.reset(i % 1000, 0) for i in range(MAX_OPEN_EPISODES + 1)]
    assert len(episodes) == MAX_OPEN_EPISODES
    with pytest.raises(UnknownEpisode):
        episodes.state(steps[0].episode_id)
    assert episodes.state(steps[-1].episode_id) == steps[-1]
    assert episodes.state(steps[1].episode_id) == steps[1]
