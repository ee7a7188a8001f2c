"""Check the weights a validator holds on chain against the last submission its log records.

The log says which u16 vector each submission sent and whether it landed. The chain keeps, per
validator, the row of its latest ``set_weights``. If the export is current, the two are the same
vector; if they differ, the chain holds weights the log does not explain (or the export was made
before a later submission, and a fresh one will tell).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from throne.audit.format import AuditError
from throne.audit.replay import ReplaySummary
from throne.ports.chain import Chain, OnchainWeights


@dataclass(frozen=True)
class OnchainQuery:
    """Whose weights to read, and from which chain (opened only once the log has verified).

    The subnet defaults to the log's contest's, the validator to the export's signer (its
    hotkey on a Bittensor network)."""

    open_chain: Callable[[], Chain]
    netuid: int | None = None
    validator_uid: int | None = None
    validator_hotkey: str | None = None


class ValidatorUnknown(Exception):
    """The validator (or subnet) whose weights to read is not known: the caller must name it."""


class NoSubnet(ValidatorUnknown):
    """The log holds no contest to take the subnet from."""


class NoValidator(ValidatorUnknown):
    """Neither a uid nor a hotkey is named, and no signer (a database has none)."""


class NotRegistered(ValidatorUnknown):
    """The hotkey holds no uid on the subnet."""

    def __init__(self, hotkey: str, netuid: int, *, named: bool) -> None:
        super().__init__(f"{hotkey} is not registered on subnet {netuid}")
        self.hotkey, self.netuid = hotkey, netuid
        #: whether the hotkey was named (else it is the export's signer)
        self.named = named


def onchain_check(query: OnchainQuery, summary: ReplaySummary, signer: str | None) -> ChainCheck:
    """Read the validator's row from the chain and :func:`check_onchain` it."""
    netuid = query.netuid if query.netuid is not None else summary.netuid
    if netuid is None:
        raise NoSubnet("the log holds no contest")
    chain = query.open_chain()
    try:
        uid = query.validator_uid
        if uid is None:
            hotkey = query.validator_hotkey or signer
            if hotkey is None:
                raise NoValidator("no validator named, and a database names no signer")
            uid = chain.snapshot(netuid).uid_of(hotkey)
            if uid is None:
                raise NotRegistered(hotkey, netuid, named=bool(query.validator_hotkey))
        row = chain.onchain_weights(netuid, uid)
    finally:
        chain.close()
    return check_onchain(summary, row)


@dataclass(frozen=True)
class ChainCheck:
    """A match between the chain's row and the log's last landed submission."""

    netuid: int
    validator_uid: int
    chain_block: int
    #: block and notification id of the submission that put the row there (None: neither the
    #: log nor the chain has any weights for this validator)
    submission_block: int | None
    submission_id: int | None
    u16: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_onchain(summary: ReplaySummary, row: OnchainWeights) -> ChainCheck:
    """Raise :class:`AuditError` (``chain-mismatch``) unless ``row`` is what the log last sent."""
    on_chain = sorted([int(uid), int(value)] for uid, value in row.weights)
    landed = summary.last_landed
    where = f"uid {row.validator_uid} on subnet {row.netuid} (chain block {row.block})"
    if landed is None:
        if on_chain:
            raise AuditError(
                "chain-mismatch",
                f"{where} holds weights {on_chain}, but the log records no submission that landed",
            )
        return ChainCheck(row.netuid, row.validator_uid, row.block, None, None, [])
    if landed["netuid"] != row.netuid:
        raise AuditError(
            "chain-mismatch",
            f"the log's submissions are for subnet {landed['netuid']}, not {row.netuid}",
        )
    sent = sorted([int(uid), int(value)] for uid, value in landed["u16"])
    if on_chain != sent:
        raise AuditError(
            "chain-mismatch",
            f"{where} holds weights {on_chain or 'none'}, but the last submission the log "
            f"records as landed (block {landed['block']}, id {landed['id']}) sent "
            f"{sent}: the chain holds weights this log does not explain, or the "
            "export predates a later submission (export again)",
        )
    return ChainCheck(
        row.netuid, row.validator_uid, row.block, landed["block"], landed["id"], on_chain
    )
