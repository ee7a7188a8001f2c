"""Fixtures for the chain adapters: isolation from the home directory, and one world per adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.chain.chain_worlds import FakeNodeWorld, LocalWorld, SignerWorld, World


@pytest.fixture(autouse=True)
def _no_home_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing under test may write to the real home directory or read a real wallet."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "home" / "symbols.json"))
    monkeypatch.setenv("BITTENSOR_RUNTIME_CACHE_DIR", str(tmp_path / "home" / "runtime"))
    monkeypatch.delenv("BT_WALLET_PASSWORD", raising=False)
    monkeypatch.delenv("BT_WALLET_PASSWORD_FILE", raising=False)


@pytest.fixture(params=["local", "bittensor", "local, signer", "bittensor, signer"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    kind, _, behind = str(request.param).partition(", ")
    inner = (
        LocalWorld(tmp_path / "chain.db") if kind == "local" else FakeNodeWorld(tmp_path / "data")
    )
    made = SignerWorld(inner) if behind else inner
    try:
        yield made
    finally:
        made.close()
