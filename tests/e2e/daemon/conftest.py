"""Fixtures of the daemon's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.daemon.cluster import profiles
from throne.envs.registry import environments
from throne.miners import MinerServer


@pytest.fixture(scope="module")
def miners() -> Iterator[str]:
    """The base URL of local miner servers answering as the cluster's miners (`profiles`)."""
    with MinerServer(profiles(), list(environments().values())) as server:
        yield server.base_url
