"""What ABD and DED share: the generated corpus's id range and a sandbox to run programs in."""

from __future__ import annotations

from throne.envs.base import Environment
from throne.ports.sandbox import Sandbox


class ProgramEnvironment(Environment):
    """An environment whose evaluation runs programs; ``sandbox`` defaults to the shared one,
    started on first use."""

    def __init__(self, sandbox: Sandbox | None = None, id_count: int = 200_000) -> None:
        self._sandbox = sandbox
        self._id_count = id_count

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            from throne.envs.sandbox.client import shared_sandbox

            self._sandbox = shared_sandbox()
        return self._sandbox

    @property
    def id_range(self) -> tuple[int, int]:
        return (0, self._id_count)
