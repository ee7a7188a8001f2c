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


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret at ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        secret = path.read_bytes()
        if len(secret) < SECRET_BYTES:
            raise ValueError(f"pool secret at {path} is shorter than {SECRET_BYTES} bytes")
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = os.urandom(SECRET_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return secret


def pool_seed(secret: bytes, netuid: int, pool: int) -> bytes:
    return hmac.new(secret, f"throne-pool-seed:{netuid}:{pool}".encode(), hashlib.sha256).digest()
