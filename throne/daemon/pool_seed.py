"""Pool seeds: secret until a pool is retired, yet reproducible by the validator.

The seed of pool ``n`` is ``HMAC-SHA256(secret, "throne-pool-seed:{netuid}:{n}")``. Publishing a
seed (when its pool retires) reveals nothing about the secret or about later seeds, and a
validator that restarts draws the same pool it would have drawn.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

SECRET_BYTES = 32


class PoolSecretError(Exception):
    """The pool secret cannot be read or created; the message is one line with the fix."""


def read_secret(path: Path) -> bytes | None:
    """The secret at ``path``, or None if there is none yet; never writes."""
    if not path.exists():
        return None
    if path.is_dir():
        raise PoolSecretError(
            f"the pool secret {path} is a directory: point pool_secret_file at a file"
        )
    try:
        secret = path.read_bytes()
    except OSError as exc:
        raise PoolSecretError(f"cannot read the pool secret {path}: {exc.strerror}") from exc
    if len(secret) < SECRET_BYTES:
        raise PoolSecretError(
            f"the pool secret {path} holds {len(secret)} bytes, fewer than the {SECRET_BYTES} "
            "a secret needs: restore the validator's secret (or remove the file before the "
            "first pool to draw a new one)"
        )
    return secret


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret at ``path``, creating it (mode 0600) on first use."""
    secret = read_secret(path)
    if secret is not None:
        return secret
    secret = os.urandom(SECRET_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise PoolSecretError(
            f"cannot create the pool secret {path}: {exc.strerror}; choose a writable "
            "data_dir or pool_secret_file"
        ) from exc
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return secret


def pool_seed(secret: bytes, netuid: int, pool: int) -> bytes:
    return hmac.new(secret, f"throne-pool-seed:{netuid}:{pool}".encode(), hashlib.sha256).digest()
