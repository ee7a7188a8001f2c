"""The program sandbox: untrusted Python programs under limits, isolated from the validator."""

from throne.envs.sandbox.client import ForkServerSandbox, SandboxUnavailable, shared_sandbox
from throne.envs.sandbox.limits import Limits, RunResult

__all__ = ["ForkServerSandbox", "Limits", "RunResult", "SandboxUnavailable", "shared_sandbox"]
