"""The installed evaluation environments, by name, for commands that take ``--env``."""

from __future__ import annotations

import importlib
from typing import cast

from throne.envs.base import Environment

REGISTRY_MODULE = "throne.envs.registry"


def installed_environments() -> dict[str, Environment]:
    """Every environment the registry knows, or none while no registry is installed."""
    try:
        registry = importlib.import_module(REGISTRY_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != REGISTRY_MODULE:
            raise
        return {}
    return dict(cast(dict[str, Environment], registry.environments()))
