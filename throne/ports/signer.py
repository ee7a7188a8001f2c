"""The `Signer` port: the key that signs the audit export's checkpoints.

Whoever holds the log can check that each checkpoint was signed by the validator's hotkey, so
that no edit of a published export goes unseen.
"""

from __future__ import annotations

from typing import Protocol


class Signer(Protocol):
    """Signs bytes as an ss58 address, with sr25519. Adapter: bittensor's ``Keypair`` as it is
    (see `throne.audit.signing`), a type this project does not own: it fits structurally."""

    @property
    def ss58_address(self) -> str:
        """The address a signature is checked against."""

    def sign(self, data: bytes) -> bytes:
        """The signature of ``data``."""
