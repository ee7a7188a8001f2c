"""The record of weight submissions: what was intended, what was sent, and what the chain said."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from throne.domain.ids import NAMESPACE


class WeightLedger(Aggregate):
    TOPIC = "throne:WeightLedger"

    class Created(Aggregate.Created):
        TOPIC = "throne:WeightLedger.Created"
        netuid: int

    class WeightsSet(Aggregate.Event):
        """One submission. ``weights`` are the intended floats by uid (string keys, as JSON),
        ``u16`` the exact ``[uid, value]`` pairs sent; ``contest_version`` is the version of
        the contest the weights were computed from, so an audit recomputes them."""

        TOPIC = "throne:WeightLedger.WeightsSet"
        block: int
        weights: dict[str, float]
        u16: list[list[int]]
        ok: bool
        extrinsic: str | None
        error: str | None
        contest_version: int

        def apply(self, ledger: WeightLedger) -> None:
            ledger.submissions += 1
            if self.ok:
                ledger.last_ok_block = self.block

    @staticmethod
    def create_id(netuid: int) -> UUID:
        return uuid5(NAMESPACE, f"weights:{netuid}")

    def __init__(self, netuid: int) -> None:
        self.netuid = netuid
        self.submissions = 0
        self.last_ok_block: int | None = None

    def record(
        self,
        *,
        block: int,
        weights: dict[int, float],
        u16: list[tuple[int, int]],
        ok: bool,
        extrinsic: str | None,
        error: str | None,
        contest_version: int,
    ) -> None:
        self.trigger_event(
            self.WeightsSet,
            block=block,
            weights={str(uid): float(w) for uid, w in sorted(weights.items())},
            u16=[[int(uid), int(v)] for uid, v in u16],
            ok=ok,
            extrinsic=extrinsic,
            error=error,
            contest_version=contest_version,
        )
