"""The program sandbox: untrusted Python programs under limits, isolated from the validator.

`ForkServerSandbox` is the adapter of the `Sandbox` port (`throne.ports.sandbox`).
"""

from throne.envs.sandbox.client import ForkServerSandbox, shared_sandbox

__all__ = ["ForkServerSandbox", "shared_sandbox"]
