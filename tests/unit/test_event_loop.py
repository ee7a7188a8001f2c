"""throne's asyncio entry points run on uvloop where it is installed."""

from __future__ import annotations

import asyncio

import pytest

from throne import event_loop


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_coroutines_run_on_uvloop_when_it_is_installed() -> None:
    pytest.importorskip("uvloop")
    assert event_loop.run(loop_module()).startswith("uvloop")


def test_without_uvloop_the_standard_loop_runs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_loop, "loop_factory", lambda: None)
    assert event_loop.run(loop_module()).startswith("asyncio")
