"""What a local miner says to a prompt: recognise the task, then answer right or wrong."""

from __future__ import annotations

from collections.abc import Sequence

from throne.envs.base import Environment
from throne.miners.profile import MinerProfile

UNRECOGNISED = "I cannot tell which task this is."


def answer(profile: MinerProfile, environments: Sequence[Environment], prompt: str) -> str:
    """The environment's reference answer if the miner solves the task, a plausible wrong one
    otherwise; a fixed refusal for prompts no environment recognises."""
    for env in environments:
        task_id = env.locate(prompt)
        if task_id is None:
            continue
        task = env.task(task_id)
        if profile.solves(env.name, task_id):
            return env.reference_answer(task)
        return env.wrong_answer(task, profile.wrong_salt(env.name, task_id))
    return UNRECOGNISED
