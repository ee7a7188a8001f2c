"""Golden digests of tasks 0..99 per environment: tasks are pure functions of (env, version, id).

A change in any digest means the tasks changed: that needs a new env version, then new golden
files (``python tests/unit/envs/test_golden.py`` rewrites them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from throne.envs.base import task_digest
from throne.envs.registry import environments

GOLDEN = Path(__file__).parent / "golden"
IDS = range(100)


def _digests(name: str) -> list[str]:
    env = environments()[name]
    return [f"{task_id} {task_digest(env.task(task_id))}" for task_id in IDS]


@pytest.mark.parametrize("name", ["SAT", "ABD", "DED"])
def test_tasks_match_their_golden_digests(name: str) -> None:
    env = environments()[name]
    expected = (GOLDEN / f"{name}-v{env.version}.txt").read_text().splitlines()
    assert _digests(name) == expected


@pytest.mark.parametrize("name", ["SAT", "ABD", "DED"])
def test_generating_a_task_twice_gives_the_same_task(name: str) -> None:
    env = environments()[name]
    assert env.task(42) == env.task(42)
    assert task_digest(env.task(42)) != task_digest(env.task(43))


if __name__ == "__main__":
    for name, env in environments().items():
        (GOLDEN / f"{name}-v{env.version}.txt").write_text("\n".join(_digests(name)) + "\n")
