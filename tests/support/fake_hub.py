"""The loopback Hub for tests: `throne.devhub`, under the name the tests know it by."""

from throne.devhub import (
    DISABLED,
    FakeHub,
    Fault,
    Seen,
    SilentServer,
    git_file,
    lfs_file,
    resolve_url,
)

__all__ = [
    "DISABLED",
    "FakeHub",
    "Fault",
    "Seen",
    "SilentServer",
    "git_file",
    "lfs_file",
    "resolve_url",
]
