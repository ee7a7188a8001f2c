"""What a local miner says to a prompt: recognise the task, then answer right or wrong.

A conversation whose first user message opens an episode of a multi-turn env gets that env's
next move instead (`next_move`), from the observations so far.
"""

from __future__ import annotations

from collections.abc import Sequence

from throne.envs.base import Environment
from throne.envs.episodic import EpisodicEnv
from throne.miners.profile import MinerProfile

UNRECOGNISED = "I cannot tell which task this is."


def locate(environments: Sequence[Environment], prompt: str) -> tuple[Environment, int] | None:
    """The environment and task id a prompt comes from, or None. Cheap (microseconds): it
    reads the prompt's closing task reference line and builds no task."""
    for env in environments:
        task_id = env.locate(prompt)
        if task_id is not None:
            return env, task_id
    return None


def answer_task(profile: MinerProfile, env: Environment, task_id: int) -> str:
    """The environment's reference answer if the miner solves the task, a plausible wrong one
    otherwise. Costly: building a task takes up to milliseconds of CPU."""
    task = env.task(task_id)
    if profile.solves(env.name, task_id):
        return env.reference_answer(task)
    return env.wrong_answer(task, profile.wrong_salt(env.name, task_id))


def answer(profile: MinerProfile, environments: Sequence[Environment], prompt: str) -> str:
    """`answer_task` for the prompt's task; a fixed refusal for prompts no environment
    recognises."""
    located = locate(environments, prompt)
    return UNRECOGNISED if located is None else answer_task(profile, *located)


def locate_episode(
    environments: Sequence[EpisodicEnv], first: str
) -> tuple[EpisodicEnv, int] | None:
    """The multi-turn env and task id whose first observation ``first`` is, or None."""
    for env in environments:
        task_id = env.locate(first)
        if task_id is not None:
            return env, task_id
    return None


def next_move(
    profile: MinerProfile, env: EpisodicEnv, task_id: int, observations: Sequence[str]
) -> str:
    """The miner's next action in an episode: the env's best move if the miner solves the
    task, a poor one otherwise (decided once per task, like single-turn answers)."""
    return env.next_action(task_id, observations, profile.solves(env.name, task_id))
