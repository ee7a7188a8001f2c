"""The `Chain` port: what the validator and the miner commands need from a chain.

Reads return the domain's plain `ChainSnapshot` or the small frozen records below; writes
return an outcome record instead of raising for the refusals a caller is expected to handle
(rate limit, stale version key, unregistered key). Exceptions are kept for the two cases a
caller cannot handle inline: the chain is unreachable or slow (`ChainUnavailable`, retry
later) and a request the chain will never accept as given (`ChainRefused`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, TypeVar, get_args

from throne.domain.queue.snapshot import ChainSnapshot

T = TypeVar("T")

#: Why a weight submission did not land. ``rate_limited`` and ``stale_version_key`` are expected
#: in normal operation; the others need an operator.
WeightErrorCode = Literal[
    "rate_limited",
    "stale_version_key",
    "invalid_argument",
    "not_registered",
    "chain_error",
]


#: The bittensor networks a validator may name, besides a node's ws(s):// URL; ``local`` is the
#: embedded chain in a file.
NETWORKS = ("local", "finney", "test")


def is_chain_name(name: str) -> bool:
    """``local``, ``finney``, ``test`` or a ``ws://`` / ``wss://`` URL."""
    return name in NETWORKS or (name.startswith(("ws://", "wss://")) and len(name) > 6)


class ChainError(Exception):
    """Base of every error a chain adapter raises."""


class ChainUnavailable(ChainError):
    """The chain could not be reached or did not answer in time; retrying later may work."""

    retryable = True


class ChainTimeout(ChainUnavailable):
    """A call ran past its deadline (a hung or overloaded node)."""


class ChainRefused(ChainError):
    """The chain (or a check the adapter makes on its behalf) rejected the request as given."""

    retryable = False

    def __init__(self, message: str, code: str = "chain_error") -> None:
        super().__init__(message)
        self.code = code


class SignerUnavailable(ChainUnavailable):
    """The process that holds the validator's key (``throne signer``) could not be reached or
    did not answer in time; retrying later may work."""


class SignerRefused(ChainRefused):
    """That process refused the request: a bad token, or a request outside its rules (``code``
    names the rule, e.g. ``not_a_checkpoint``)."""


class WalletLocked(ChainError):
    """The signing key is encrypted and no password was provided through the environment."""


@dataclass(frozen=True)
class WeightSubmission:
    """The outcome of one `set_weights`: what was intended, what was sent, what happened.

    ``intended`` holds the caller's floats by uid; ``sent`` the exact ``(uid, u16)`` pairs put
    in the extrinsic (empty when nothing was submitted, e.g. refused before signing).
    ``block`` is the chain block the submission was made at (or refused at).
    """

    ok: bool
    netuid: int
    block: int
    version_key: int
    intended: tuple[tuple[int, float], ...]
    sent: tuple[tuple[int, int], ...] = ()
    extrinsic_id: str | None = None
    error_code: WeightErrorCode | None = None
    error_message: str | None = None
    retry_in_blocks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["intended"] = [[uid, w] for uid, w in self.intended]
        d["sent"] = [[uid, v] for uid, v in self.sent]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WeightSubmission:
        """The submission `to_dict` wrote (as another process sends it); `ValueError` for
        anything else."""
        try:
            code = d.get("error_code")
            if code is not None and code not in WEIGHT_ERROR_CODES:
                raise ValueError(f"unknown error code {code!r}")
            return cls(
                ok=_exactly(bool, d["ok"]),
                netuid=_exactly(int, d["netuid"]),
                block=_exactly(int, d["block"]),
                version_key=_exactly(int, d["version_key"]),
                intended=tuple((_exactly(int, u), float(w)) for u, w in d["intended"]),
                sent=tuple((_exactly(int, u), _exactly(int, v)) for u, v in d["sent"]),
                extrinsic_id=_optional(str, d.get("extrinsic_id")),
                error_code=code,
                error_message=_optional(str, d.get("error_message")),
                retry_in_blocks=_optional(int, d.get("retry_in_blocks")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a weight submission: {exc}") from exc


WEIGHT_ERROR_CODES: frozenset[str] = frozenset(get_args(WeightErrorCode))


def _exactly(kind: type[T], value: Any) -> T:
    # bool is an int to Python; not here
    if type(value) is not kind:
        raise TypeError(f"{value!r} is not {kind.__name__}")
    return value


def _optional(kind: type[T], value: Any) -> T | None:
    return None if value is None else _exactly(kind, value)


@dataclass(frozen=True)
class OnchainWeights:
    """The weight row a validator has on chain, as stored: ``(uid, u16)`` pairs by uid."""

    netuid: int
    block: int
    validator_uid: int
    weights: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "netuid": self.netuid,
            "block": self.block,
            "validator_uid": self.validator_uid,
            "weights": [{"uid": uid, "weight": value} for uid, value in self.weights],
        }


@dataclass(frozen=True)
class CommitReceipt:
    """A commitment the signing hotkey published, with the block the chain recorded."""

    netuid: int
    hotkey: str
    block: int
    text: str
    extrinsic_id: str | None = None


class Chain(Protocol):
    """A subnet's chain as the validator sees it: blocks, neurons, commitments and weights.

    Every adapter signs with one configured hotkey (the validator's, or a miner's for
    `commit`). Implementations: `LocalChain` (SQLite, the embedded default) and
    `BittensorChain` (bittensor 11), which pass one contract suite
    (``tests/integration/chain/test_chain_contract.py``); `NoChain` refuses every call.
    """

    @property
    def signer_hotkey(self) -> str:
        """The ss58 address (or local name) of the hotkey this adapter signs with."""

    def current_block(self) -> int:
        """The chain's current block number."""

    def snapshot(self, netuid: int) -> ChainSnapshot:
        """Neurons and every readable commitment of ``netuid``, all read at one block.

        Commitments of hotkeys that are no longer registered are included; the domain
        decides what a deregistration means.
        """

    def blocks_until_weights_allowed(self, netuid: int, uid: int) -> int:
        """How many blocks ``uid`` must wait before the rate limit lets it set weights (0: now)."""

    def set_weights(
        self, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WeightSubmission:
        """Submit the signer's weights (relative, non-negative floats by uid).

        The floats are turned into u16s with bittensor's semantics (see `u16`); the rate
        limit is checked before anything is signed. Refusals come back as a non-ok
        `WeightSubmission`; only an unreachable chain raises (`ChainUnavailable`).
        """

    def onchain_weights(self, netuid: int, validator_uid: int) -> OnchainWeights:
        """The weight row stored on chain for ``validator_uid`` (empty if none)."""

    def commit(self, netuid: int, text: str) -> CommitReceipt:
        """Publish ``text`` as the signer's commitment on ``netuid`` (replacing any previous).

        Raises `ChainRefused` when the chain rejects it (e.g. the hotkey is not registered).
        """

    def close(self) -> None:
        """Release connections or files; the adapter is unusable afterwards."""
        return None
