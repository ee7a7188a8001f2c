"""The `Signer` port: the key that signs the audit export's checkpoints.

Whoever holds the log can check that each checkpoint was signed by the validator's hotkey, so
that no edit of a published export goes unseen.

The key may live in another process (``throne signer``), so that the daemon, which talks to
untrusted miners, never holds it. Reaching that process can fail like reaching a chain: its
errors (`SignerUnavailable`, `SignerRefused`) are chain errors, so the daemon's loops retry
them as they retry an unreachable node.
"""

from __future__ import annotations

from typing import Protocol

# Where the key is another process's, reaching it fails like reaching a chain (see the module).
from throne.ports.chain import SignerRefused as SignerRefused
from throne.ports.chain import SignerUnavailable as SignerUnavailable


class Signer(Protocol):
    """Signs bytes as an ss58 address, with sr25519. Adapters: bittensor's ``Keypair`` as it is
    (see `throne.audit.signing`), a type this project does not own: it fits structurally; and
    `SignerClient`, the key held by a ``throne signer`` process."""

    @property
    def ss58_address(self) -> str:
        """The address a signature is checked against."""

    def sign(self, data: bytes) -> bytes:
        """The signature of ``data``."""
