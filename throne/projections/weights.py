"""Weights: the vector the contest gives now, and every submission by block."""

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.domain.contest.weights import contest_weights
from throne.projections.base import Projection, insert_ignore

_C = Contest


class WeightsProjection(Projection):
    name = "weights"
    topics = (
        _C.Created.TOPIC,
        _C.Reconfigured.TOPIC,
        _C.Committed.TOPIC,
        _C.Invalidated.TOPIC,
        _C.Registered.TOPIC,
        _C.Deregistered.TOPIC,
        _C.ChampionCrowned.TOPIC,
        _C.Dethroned.TOPIC,
        _C.Terminated.TOPIC,
        WeightLedger.WeightsSet.TOPIC,
    )

    def define_tables(self) -> None:
        self.state = self.table(
            "state",
            sa.Column("netuid", sa.Integer, primary_key=True),
            sa.Column("burn", sa.Float, nullable=False),
            sa.Column("champion", sa.String(100)),
        )
        self.miners = self.table(
            "miners",
            sa.Column("hotkey", sa.String(100), primary_key=True),
            sa.Column("uid", sa.Integer),
            sa.Column("valid", sa.Boolean, nullable=False),
        )
        self.current = self.table(
            "current",
            sa.Column("uid", sa.Integer, primary_key=True),
            sa.Column("weight", sa.Float, nullable=False),
        )
        self.history = self.table(
            "history",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("block", sa.BigInteger, nullable=False, index=True),
            sa.Column("contest_version", sa.BigInteger, nullable=False),
            sa.Column("ok", sa.Boolean, nullable=False),
            sa.Column("extrinsic", sa.Text),
            sa.Column("error", sa.Text),
            sa.Column("weights", sa.Text, nullable=False),  # JSON {uid: float}
            sa.Column("u16", sa.Text, nullable=False),  # JSON [[uid, value], ...]
        )

    @singledispatchmethod
    def process(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Events this projection does not need change nothing."""

    @process.register
    def _(self, e: Contest.Created, conn: sa.Connection, nid: int) -> None:
        burn = e.config.burn
        conn.execute(sa.insert(self.state).values(netuid=e.netuid, burn=burn))
        self._recompute(conn)

    @process.register
    def _(self, e: Contest.Reconfigured, conn: sa.Connection, nid: int) -> None:
        conn.execute(sa.update(self.state).values(burn=e.config.burn))
        self._recompute(conn)

    @process.register
    def _(self, e: Contest.Committed, conn: sa.Connection, nid: int) -> None:
        conn.execute(sa.insert(self.miners).values(hotkey=e.hotkey, uid=e.uid, valid=True))

    @process.register
    def _(self, e: Contest.Invalidated, conn: sa.Connection, nid: int) -> None:
        conn.execute(
            insert_ignore(conn, self.miners), {"hotkey": e.hotkey, "uid": e.uid, "valid": False}
        )
        self._set_miner(conn, e.hotkey, valid=False)

    @process.register
    def _(self, e: Contest.Registered, conn: sa.Connection, nid: int) -> None:
        self._set_miner(conn, e.hotkey, uid=e.uid)

    @process.register
    def _(self, e: Contest.Deregistered, conn: sa.Connection, nid: int) -> None:
        self._set_miner(conn, e.hotkey, uid=None)

    @process.register
    def _(self, e: Contest.ChampionCrowned, conn: sa.Connection, nid: int) -> None:
        self._set_champion(conn, e.hotkey)

    @process.register
    def _(self, e: Contest.Dethroned, conn: sa.Connection, nid: int) -> None:
        self._set_champion(conn, e.new_champion.hotkey)

    @process.register
    def _(self, e: Contest.Terminated, conn: sa.Connection, nid: int) -> None:
        champion = conn.execute(sa.select(self.state.c.champion)).scalar_one_or_none()
        if champion == e.hotkey:
            self._set_champion(conn, None)

    @process.register
    def _(self, e: WeightLedger.WeightsSet, conn: sa.Connection, nid: int) -> None:
        conn.execute(
            sa.insert(self.history).values(
                notification_id=nid,
                block=e.block,
                contest_version=e.contest_version,
                ok=e.ok,
                extrinsic=e.extrinsic,
                error=e.error,
                weights=json.dumps(e.weights, sort_keys=True),
                u16=json.dumps(e.u16),
            )
        )

    def _set_miner(self, conn: sa.Connection, hotkey: str, **values: Any) -> None:
        conn.execute(sa.update(self.miners).where(self.miners.c.hotkey == hotkey).values(**values))
        self._recompute(conn)

    def _set_champion(self, conn: sa.Connection, hotkey: str | None) -> None:
        conn.execute(sa.update(self.state).values(champion=hotkey))
        self._recompute(conn)

    def _recompute(self, conn: sa.Connection) -> None:
        state = conn.execute(sa.select(self.state.c.burn, self.state.c.champion)).first()
        if state is None:
            return
        uid, valid = None, False
        if state.champion is not None:
            miner = conn.execute(
                sa.select(self.miners.c.uid, self.miners.c.valid).where(
                    self.miners.c.hotkey == state.champion
                )
            ).first()
            if miner is not None:
                uid, valid = miner.uid, bool(miner.valid)
        weights = contest_weights(uid, valid, float(state.burn))
        conn.execute(sa.delete(self.current))
        conn.execute(
            sa.insert(self.current), [{"uid": u, "weight": w} for u, w in sorted(weights.items())]
        )

    # ---- reads --------------------------------------------------------------------------------

    def current_weights(self, conn: sa.Connection) -> dict[int, float]:
        return {int(u): float(w) for u, w in conn.execute(sa.select(self.current))}

    def submissions(self, conn: sa.Connection) -> list[dict[str, Any]]:
        """Every weight submission, oldest first."""
        rows = conn.execute(sa.select(self.history).order_by(self.history.c.notification_id))
        return [
            {
                **{k: v for k, v in r._mapping.items() if k not in ("weights", "u16")},
                "weights": json.loads(r.weights),
                "u16": json.loads(r.u16),
            }
            for r in rows
        ]
