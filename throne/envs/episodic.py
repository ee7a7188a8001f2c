"""Multi-turn environments: an episode per task, played one turn at a time.

An `EpisodicEnv` is deterministic per ``(task_id, seed)`` like every throne env: the same
actions in the same episode always get the same observations and rewards. The validator drives
the loop (`throne.envs.episode.play`): it shows the model the observation, sends the model's
answer back as the action, and stops when the episode is done or the turn limit is reached.

`Episodes` keeps the episodes in flight by id; it is what the interactive interface's
``reset / step / state / stop`` calls reach, in-process (`InProcessEpisodes`) and behind
``throne env serve``.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from throne.envs.protocol import Step
from throne.envs.tag import parse_tag

#: How many episodes one `Episodes` keeps at most; the oldest is dropped past it (a client
#: that never calls ``stop`` must not grow the server without bound).
MAX_OPEN_EPISODES = 4096


@dataclass(frozen=True)
class Reply:
    """What the env answers to one action."""

    observation: str
    reward: float
    done: bool


class Episode(ABC):
    """One episode of one task. Not thread-safe: `Episodes` serialises its calls."""

    @property
    @abstractmethod
    def first_observation(self) -> str:
        """What the model is shown first (it ends with the task's reference line)."""

    @abstractmethod
    def act(self, action: str) -> Reply:
        """The env's answer to the model's turn. Never raises for what the model says: an
        answer off the format is a turn the model wasted, and the observation says so."""


class EpisodicEnv(ABC):
    """A multi-turn environment."""

    name: str
    version: str
    #: the turns an episode is given unless the configuration says otherwise
    max_turns: int = 30

    @property
    @abstractmethod
    def id_range(self) -> tuple[int, int]: ...

    @abstractmethod
    def episode(self, task_id: int, seed: int) -> Episode:
        """A new episode of this task; raises `TaskIdOutOfRange` outside ``id_range``."""

    @abstractmethod
    def next_action(self, task_id: int, observations: Sequence[str], solves: bool) -> str:
        """What a local miner says next, given the observations so far: the best move if it
        ``solves`` the task, a plausible poor one otherwise (local miners, tests)."""

    def locate(self, text: str) -> int | None:
        """The task id a first observation names, or None when it is not this env's."""
        tag = parse_tag(text)
        if tag is None or tag[:2] != (self.name, self.version):
            return None
        start, stop = self.id_range
        return tag[2] if start <= tag[2] < stop else None


class UnknownEpisode(LookupError):
    """No episode in flight has this id (never started, stopped, or dropped)."""


class Episodes:
    """The episodes in flight of one env, by id, each with its last answer."""

    def __init__(self, env: EpisodicEnv, *, prefix: str = "ep") -> None:
        self.env = env
        self._prefix = prefix
        self._ids = itertools.count(1)
        self._open: dict[str, tuple[Episode, Step]] = {}
        self._lock = threading.Lock()

    def reset(self, task_id: int, seed: int) -> Step:
        episode = self.env.episode(task_id, seed)
        with self._lock:
            episode_id = f"{self._prefix}-{next(self._ids)}"
            step = Step(episode.first_observation, episode_id)
            self._open[episode_id] = (episode, step)
            while len(self._open) > MAX_OPEN_EPISODES:
                del self._open[next(iter(self._open))]
        return step

    def step(self, episode_id: str, action: str) -> Step:
        with self._lock:
            episode, last = self._get(episode_id)
            if last.done:
                return last
            reply = episode.act(action)
            step = Step(reply.observation, episode_id, reply.reward, reply.done)
            self._open[episode_id] = (episode, step)
        return step

    def state(self, episode_id: str) -> Step:
        with self._lock:
            return self._get(episode_id)[1]

    def stop(self, episode_id: str) -> Step | None:
        """End the episode; its last answer, or None when no such episode is in flight."""
        with self._lock:
            stopped = self._open.pop(episode_id, None)
        return None if stopped is None else stopped[1]

    def _get(self, episode_id: str) -> tuple[Episode, Step]:
        try:
            return self._open[episode_id]
        except KeyError:
            raise UnknownEpisode(f"no episode {episode_id!r} in flight") from None

    def __len__(self) -> int:
        return len(self._open)
