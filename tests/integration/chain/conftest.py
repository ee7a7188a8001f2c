"""Fixtures for the chain adapters: isolation from the home directory, and one world per adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.chain.chain_worlds import FakeNodeWorld, LocalWorld, World
from tests.support.bittensor_home import _no_home_writes  # noqa: F401 (autouse)


@pytest.fixture(params=["local", "bittensor"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "local":
        yield LocalWorld(tmp_path / "chain.db")
        return
    fake_world = FakeNodeWorld(tmp_path / "data")
    try:
        yield fake_world
    finally:
        fake_world.close()
