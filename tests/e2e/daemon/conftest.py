"""Fixtures of the daemon's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.daemon.cluster import profiles
from throne.envs.registry import environments, episodic_environments
from throne.miners import MinerServer


@pytest.fixture(scope="module")
def miners() -> Iterator[str]:
    """The base URL of local miner servers answering as the cluster's miners (`profiles`), on
    every installed env, the multi-turn ones included."""
    envs = [*environments().values(), *episodic_environments().values()]
    with MinerServer(profiles(), envs) as server:
        yield server.base_url
