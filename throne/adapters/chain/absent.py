"""`NoChain`: what a sampling worker holds where the daemon holds a chain.

A worker (``throne worker``) only evaluates the work the daemon has put in the shared log, so
it never opens the chain: it needs no chain file, node or wallet, and it can run on a machine
that has none. Anything that would touch a chain through it is a bug, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

from throne.domain.queue.snapshot import ChainSnapshot
from throne.ports.chain import (
    Chain,
    ChainError,
    CommitReceipt,
    OnchainWeights,
    WeightSubmission,
)


class NoChain(Chain):
    def __init__(self, role: str = "a sampling worker") -> None:
        self._role = role

    def _refuse(self, what: str) -> NoReturn:
        raise ChainError(f"{self._role} does not use the chain (asked for {what})")

    @property
    def signer_hotkey(self) -> str:
        self._refuse("the signer's hotkey")

    def current_block(self) -> int:
        self._refuse("the current block")

    def snapshot(self, netuid: int) -> ChainSnapshot:
        self._refuse(f"a snapshot of netuid {netuid}")

    def blocks_until_weights_allowed(self, netuid: int, uid: int) -> int:
        self._refuse("the weights rate limit")

    def set_weights(
        self, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WeightSubmission:
        self._refuse("a weight submission")

    def onchain_weights(self, netuid: int, validator_uid: int) -> OnchainWeights:
        self._refuse("on-chain weights")

    def commit(self, netuid: int, text: str) -> CommitReceipt:
        self._refuse("a commitment")
