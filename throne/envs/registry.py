"""The environments throne evaluates on, by name: single-turn and multi-turn."""

from __future__ import annotations

from throne.envs.abd import AbdEnvironment
from throne.envs.base import Environment
from throne.envs.ded import DedEnvironment
from throne.envs.episodic import EpisodicEnv
from throne.envs.guess import GuessEnvironment
from throne.envs.sat import SatEnvironment
from throne.ports.sandbox import Sandbox


class UnknownEnvironment(KeyError):
    """No environment has this name."""

    def __str__(self) -> str:
        return str(self.args[0])


def environments(sandbox: Sandbox | None = None) -> dict[str, Environment]:
    """SAT, ABD and DED with their default settings. ABD and DED run programs in ``sandbox``,
    or else share one process-wide sandbox, started on first evaluation."""
    envs: list[Environment] = [
        SatEnvironment(),
        AbdEnvironment(sandbox=sandbox),
        DedEnvironment(sandbox=sandbox),
    ]
    return {env.name: env for env in envs}


def episodic_environments() -> dict[str, EpisodicEnv]:
    """The multi-turn environments (GUESS). Not among `environments`: a configuration or a
    log that names none of them is judged as before."""
    envs: list[EpisodicEnv] = [GuessEnvironment()]
    return {env.name: env for env in envs}


def get_environment(name: str) -> Environment:
    envs = environments()
    if name not in envs:
        known = ", ".join(sorted(envs))
        raise UnknownEnvironment(f"unknown environment {name!r}; known: {known}")
    return envs[name]
