"""Nothing under test may write to the real home directory or read a real wallet: bittensor
keeps caches and wallets under ``~``. A conftest that imports the fixture applies it to
every test beside it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_home_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "home" / "symbols.json"))
    monkeypatch.setenv("BITTENSOR_RUNTIME_CACHE_DIR", str(tmp_path / "home" / "runtime"))
    monkeypatch.delenv("BT_WALLET_PASSWORD", raising=False)
    monkeypatch.delenv("BT_WALLET_PASSWORD_FILE", raising=False)
