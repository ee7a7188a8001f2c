"""`Signer`s: sr25519 keys that sign audit checkpoints (bittensor 11's ``Keypair``).

A validator signs with its hotkey. In local mode a keypair is generated once and kept in the
user's data directory, so that exports made on one machine verify against one address.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

# Re-exported: the audit command imports the port from here.
from throne.ports.signer import Signer


class SigningKeyError(Exception):
    """A key file that cannot be read as a key. The message is one line."""


def _keypair_class() -> Any:
    # bittensor is heavy to import; only commands that sign or verify pay for it.
    from bittensor.sp_core import Keypair

    return Keypair


def default_key_path() -> Path:
    # Imported here: verifying signatures needs no database, and the import costs ~0.3 s.
    from throne.adapters.storage.database import default_database_path

    return default_database_path().parent / "audit-signing-key"


def keypair_from_text(text: str) -> Signer:
    """A keypair from a 32-byte hex seed (``0x...``), a ``//uri`` or a mnemonic."""
    keypair = _keypair_class()
    value = text.strip()
    try:
        if value.startswith("0x") and len(value) == 66:
            return keypair.create_from_seed(bytes.fromhex(value[2:]))  # type: ignore[no-any-return]
        if value.startswith("//"):
            return keypair.create_from_uri(value)  # type: ignore[no-any-return]
        return keypair.create_from_mnemonic(value)  # type: ignore[no-any-return]
    except Exception as exc:
        raise SigningKeyError(f"not a signing key (hex seed, //uri or mnemonic): {exc}") from exc


def load_keypair(path: Path) -> Signer:
    try:
        return keypair_from_text(path.read_text())
    except OSError as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SigningKeyError(f"{path} is not a signing key: it is not text") from exc


def load_or_create_local_keypair(path: Path | None = None) -> Signer:
    """The local-mode signer: read ``path``, or create it with a fresh random seed (mode 0600)."""
    path = path or default_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("0x" + secrets.token_hex(32) + "\n")
    return load_keypair(path)


def load_signer(path: Path | None) -> Signer:
    """The key in the file at ``path``, else the local-mode signer."""
    return load_keypair(path) if path else load_or_create_local_keypair()


def signature_is_valid(message: bytes, signature: bytes, ss58_address: str) -> bool:
    """Whether ``signature`` is ``ss58_address``'s sr25519 signature of ``message``."""
    try:
        return bool(_keypair_class()(ss58_address=ss58_address).verify(message, signature))
    except Exception:
        # A malformed address or signature is simply not a valid signature.
        return False
