"""The program sandbox: untrusted Python programs under limits, isolated from the validator."""

from throne.envs.sandbox.client import ForkServerSandbox, SandboxUnavailable, shared_sandbox
from throne.envs.sandbox.limits import Limits, RunResult
from throne.envs.sandbox.port import Sandbox

__all__ = [
    "ForkServerSandbox",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxUnavailable",
    "shared_sandbox",
]
