"""GUESS: find a hidden whole number, one guess a turn, told "higher" or "lower" after each.

The multi-turn environment of the set: what it measures is whether a model uses the feedback
it is given across turns. Task ``task_id`` hides a number in ``1..top``, with ``top`` drawn in
[`TOP_MIN`, `TOP_MAX`] and the number uniform in its range, both from the task's own stream
(`throne.envs.prng.task_stream`): a game is a pure function of its id, the same on every
machine. The episode's seed only seeds the model's sampling.

Rules, as the first observation states them:
- each turn the model guesses once, as one integer in ``<answer>...</answer>`` (the last such
  block outside think blocks); anything else (no block, not an integer, a response longer than
  `MAX_RESPONSE_CHARS`) wastes the turn, and the observation restates the format;
- a wrong guess is told "higher" or "lower" (a guess outside the range too: it is still a
  number), with the turns left;
- the game ends when the number is found (reward 1.0) or when ``max_turns`` turns are used
  (reward 0.0; the last observation tells the number).

The reward is not graded by the turns used: the turn limit already separates a search from a
walk (halving the range finds any number of 1..1000 in 10 guesses; 12 turns leave room for two
wasted ones), and a 0-or-1 score reads like the single-turn envs' scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from throne.envs.base import MAX_RESPONSE_CHARS, TaskIdOutOfRange
from throne.envs.episodic import Episode, EpisodicEnv, Reply
from throne.envs.extract import extract_answer
from throne.envs.prng import task_stream
from throne.envs.tag import tag_line

TOP_MIN = 100
TOP_MAX = 1000
_INTEGER = re.compile(r"[+-]?\d{1,30}")
_FEEDBACK = re.compile(r"Your guess (-?\d+) is too (low|high)")


@dataclass(frozen=True)
class Game:
    """One task: the number hidden in ``1..top``."""

    task_id: int
    top: int
    secret: int

    @property
    def middle(self) -> int:
        return (1 + self.top) // 2


def _guess_of(action: str) -> int | None:
    if len(action) > MAX_RESPONSE_CHARS:
        return None
    answer = extract_answer(action)
    if answer is None or not _INTEGER.fullmatch(answer):
        return None
    return int(answer)


def _turns(n: int) -> str:
    return f"{n} turn{'' if n == 1 else 's'}"


class GuessEpisode(Episode):
    """One game in progress."""

    def __init__(self, game: Game, max_turns: int, tag: str) -> None:
        self.game = game
        self.max_turns = max_turns
        self._tag = tag
        self.turn = 0
        self._end: Reply | None = None

    @property
    def first_observation(self) -> str:
        g = self.game
        return "\n".join(
            [
                f"Guess the number. I have chosen a whole number between 1 and {g.top}, both "
                f"included. You have {_turns(self.max_turns)}: each turn, guess once, and I "
                "will tell you whether the number is higher or lower than your guess.",
                "Answer with one integer in <answer>...</answer>, for example "
                f"<answer>{g.middle}</answer>; an answer in any other form wastes the turn.",
                "",
                self._tag,
            ]
        )

    def act(self, action: str) -> Reply:
        if self._end is not None:
            return self._end
        self.turn += 1
        left = self.max_turns - self.turn
        guess = _guess_of(action)
        secret = self.game.secret
        if guess == secret:
            self._end = Reply(
                f"Your guess {guess} is correct: found in {_turns(self.turn)}.", 1.0, True
            )
            return self._end
        if guess is None:
            text = (
                "No guess found: answer with one integer in <answer>...</answer>, for example "
                f"<answer>{self.game.middle}</answer>. This turn is wasted."
            )
        elif guess < secret:
            text = f"Your guess {guess} is too low: the number is higher."
        else:
            text = f"Your guess {guess} is too high: the number is lower."
        if left == 0:
            self._end = Reply(f"{text} No turns left: the number was {secret}.", 0.0, True)
            return self._end
        return Reply(f"{text} {_turns(left)} left.", 0.0, False)


class GuessEnvironment(EpisodicEnv):
    """The number-guessing game (see the module docstring for the rules)."""

    name = "GUESS"
    version = "1"

    def __init__(self, max_turns: int = 12, id_count: int = 1_000_000) -> None:
        if max_turns < 1 or id_count < 1:
            raise ValueError("GUESS needs at least one turn and one task id")
        self.max_turns = max_turns
        self._id_count = id_count

    @property
    def id_range(self) -> tuple[int, int]:
        return (0, self._id_count)

    def game(self, task_id: int) -> Game:
        start, stop = self.id_range
        if not start <= task_id < stop:
            raise TaskIdOutOfRange(
                f"{self.name} v{self.version}: task id {task_id} outside [{start}, {stop})"
            )
        rng = task_stream(self.name, self.version, task_id)
        top = rng.between(TOP_MIN, TOP_MAX)
        return Game(task_id, top, rng.between(1, top))

    def episode(self, task_id: int, seed: int) -> GuessEpisode:
        game = self.game(task_id)
        return GuessEpisode(game, self.max_turns, tag_line(self.name, self.version, task_id))

    def next_action(self, task_id: int, observations: Sequence[str], solves: bool) -> str:
        """Halving the range the feedback so far leaves, when the miner ``solves`` the task;
        otherwise a walk up from 1 in small steps that ignores the feedback and steps over the
        number (so it never finds it, as a wrong answer of a single-turn env never scores)."""
        game = self.game(task_id)
        if solves:
            low, high = 1, game.top
            for observation in observations:
                for guess, direction in _FEEDBACK.findall(observation):
                    if direction == "low":
                        low = max(low, int(guess) + 1)
                    else:
                        high = min(high, int(guess) - 1)
            guess = (low + high) // 2 if low <= high else low
        else:
            guess = _walk(game, max(0, len(observations) - 1))
        return f"<answer>{guess}</answer>"


def _walk(game: Game, made: int) -> int:
    """The poor player's next guess after ``made`` guesses: 1, 1 + step, 1 + 2 step, ...
    without the hidden number."""
    step = max(1, game.top // 100)
    walk = (1 + i * step for i in range(made + 2))
    return [g for g in walk if g != game.secret][made]
