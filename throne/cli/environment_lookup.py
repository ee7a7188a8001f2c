"""The installed evaluation environments, by name, for commands that take ``--env``."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import cast

from throne.envs.base import Environment
from throne.envs.episodic import EpisodicEnv

REGISTRY_MODULE = "throne.envs.registry"


def _registry() -> ModuleType | None:
    try:
        return importlib.import_module(REGISTRY_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != REGISTRY_MODULE:
            raise
        return None


def installed_environments() -> dict[str, Environment]:
    """Every environment the registry knows, or none while no registry is installed."""
    registry = _registry()
    if registry is None:
        return {}
    return dict(cast(dict[str, Environment], registry.environments()))


def installed_episodic_environments() -> dict[str, EpisodicEnv]:
    """Every multi-turn environment the registry knows, or none while it knows none."""
    episodic = getattr(_registry(), "episodic_environments", None)
    return {} if episodic is None else dict(cast(dict[str, EpisodicEnv], episodic()))
