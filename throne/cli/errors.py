"""Which failures are the user's to fix, and the one line each becomes.

Each part raises its own error type, with a one-line message, where a failure it cannot handle
arises: a bad setting, a log that cannot be opened, a chain that refuses, a pool secret that is
not one. `throne.cli.main` prints that line for every type listed here and exits 1. Any other
exception is a bug, and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: (module, class): the failures a user can fix. Compared by looking the class up in
#: ``sys.modules``, so that no module is imported only to learn that it raised nothing.
USER_ERRORS: tuple[tuple[str, str], ...] = (
    ("throne.daemon.settings", "SettingsError"),
    ("throne.adapters.storage.database", "StorageError"),
    ("throne.ports.chain", "ChainError"),
    ("throne.daemon.pool_seed", "PoolSecretError"),
    ("throne.app.errors", "StartupError"),
    ("throne.audit.signing", "SigningKeyError"),
    ("throne.audit.format", "AuditError"),
    ("throne.audit.append", "AppendError"),
    ("throne.ports.sandbox", "SandboxUnavailable"),
    ("throne.ports.object_store", "StoreError"),
    ("throne.audit.publisher", "PublishError"),
    ("throne.audit.verified_state", "StateError"),
)


def one_line(text: str) -> str:
    """``text`` on one line: a driver's multi-line message keeps its words, not its breaks."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def user_error_line(exc: BaseException, args: argparse.Namespace | None) -> str | None:
    """The line to print for ``exc`` if the user can fix it, else None (a bug: re-raise it)."""
    for module_name, class_name in USER_ERRORS:
        module = sys.modules.get(module_name)
        kind = getattr(module, class_name, None) if module is not None else None
        if isinstance(kind, type) and isinstance(exc, kind):
            return one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, OSError) and args is not None and _names_a_given_path(exc, args):
        return f"{exc.filename}: {exc.strerror or exc}"
    return None


def _names_a_given_path(exc: OSError, args: argparse.Namespace) -> bool:
    """Whether the failed file is one the command line named, or lies inside one."""
    failed = [f for f in (exc.filename, exc.filename2) if isinstance(f, str | os.PathLike)]
    given = [Path(v) for v in vars(args).values() if isinstance(v, str | Path) and v]
    for name in failed:
        path = Path(name).expanduser().absolute()
        for g in given:
            g = g.expanduser().absolute()
            if path == g or g in path.parents:
                return True
    return False
