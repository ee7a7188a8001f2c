"""The port environments use to run untrusted programs."""

from __future__ import annotations

from typing import Protocol

from throne.envs.sandbox.limits import Limits, RunResult


class Sandbox(Protocol):
    """Runs a Python 3 program on a given stdin under limits, isolated from the caller."""

    def run(self, source: str, stdin: str = "", limits: Limits | None = None) -> RunResult: ...
