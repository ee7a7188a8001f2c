"""`SignerChain`: the daemon's chain when a ``throne signer`` holds the hotkey.

Every read goes to the chain as before, through an adapter that holds no key (bittensor reads
need none); a weight submission goes to the signer, which signs and submits it through its own
adapter and sends the outcome back. The daemon's weight setter cannot tell the difference,
except that a signer that is down raises `SignerUnavailable`, which it retries like a chain
that is down. Nothing here can open a wallet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NoReturn

from throne.adapters.signer.client import SignerClient
from throne.domain.contest.weights import InvalidWeights, to_u16
from throne.domain.queue.snapshot import ChainSnapshot
from throne.ports.chain import (
    Chain,
    ChainRefused,
    CommitReceipt,
    OnchainWeights,
    WeightSubmission,
)
from throne.ports.signer import SignerUnavailable


class NoKey:
    """Stands where a chain adapter would keep its signing key (``BittensorChain(signer=...)``):
    reads need none, and any use of a key through it is refused, so that a daemon whose weights
    go through the signer never loads the wallet, even by mistake."""

    def __getattr__(self, name: str) -> NoReturn:
        raise ChainRefused(
            "this chain handle holds no key: the validator's hotkey is the signer's "
            f"(asked for {name})",
            "no_key",
        )


class SignerChain(Chain):
    """Reads from ``reads``; `set_weights` through ``signer``; `signer_hotkey` is the signer's."""

    def __init__(self, reads: Chain, signer: SignerClient) -> None:
        self.reads = reads
        self.signer = signer

    @property
    def signer_hotkey(self) -> str:
        return self.signer.health().hotkey

    def current_block(self) -> int:
        return self.reads.current_block()

    def snapshot(self, netuid: int) -> ChainSnapshot:
        return self.reads.snapshot(netuid)

    def blocks_until_weights_allowed(self, netuid: int, uid: int) -> int:
        return self.reads.blocks_until_weights_allowed(netuid, uid)

    def set_weights(
        self, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WeightSubmission:
        """The floats become u16s here (bittensor's semantics, `to_u16`), so the signer is only
        ever asked for a vector a chain accepts; the outcome keeps the floats intended."""
        intended = tuple(sorted((int(uid), float(w)) for uid, w in weights.items()))
        try:
            u16 = to_u16(weights)
        except InvalidWeights as exc:
            return WeightSubmission(
                ok=False,
                netuid=netuid,
                block=self.reads.current_block(),
                version_key=version_key,
                intended=intended,
                error_code="invalid_argument",
                error_message=str(exc),
            )
        answer: Any = self.signer.set_weights(netuid, u16, version_key)
        try:
            submission = WeightSubmission.from_dict(answer)
        except ValueError as exc:
            raise SignerUnavailable(
                f"the signer at {self.signer.url} answered /set_weights with {exc}"
            ) from exc
        return replace(submission, intended=intended)

    def onchain_weights(self, netuid: int, validator_uid: int) -> OnchainWeights:
        return self.reads.onchain_weights(netuid, validator_uid)

    def commit(self, netuid: int, text: str) -> CommitReceipt:
        raise ChainRefused(
            "the validator's hotkey is held by the signer, which only sets weights: a "
            "commitment is a miner's, made with `throne commit` and the miner's own key",
            "no_key",
        )

    def close(self) -> None:
        try:
            self.reads.close()
        finally:
            self.signer.close()
