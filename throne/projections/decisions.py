"""Decisions: one row per decision of the validator (pool drawn, crown, battle started,
release, dethroning, termination, weights set), with the summary of what it was decided on.

No view reads it: it is there for whoever queries the database (a dashboard, a notebook). The
audit of the log (`throne.audit`) recomputes the decisions themselves."""

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.projections.base import Projection
from throne.projections.history import summarize_verdict

_C = Contest


class DecisionsProjection(Projection):
    name = "decisions"
    topics = (
        _C.PoolRefreshed.TOPIC,
        _C.ChampionCrowned.TOPIC,
        _C.BattleStarted.TOPIC,
        _C.ChallengerReleased.TOPIC,
        _C.Dethroned.TOPIC,
        _C.Terminated.TOPIC,
        WeightLedger.WeightsSet.TOPIC,
    )

    def define_tables(self) -> None:
        self.decisions = self.table(
            "made",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("block", sa.BigInteger, nullable=False, index=True),
            sa.Column("kind", sa.String(30), nullable=False),
            sa.Column("hotkey", sa.String(100)),
            sa.Column("revision", sa.Text),
            sa.Column("reason", sa.Text),
            sa.Column("inputs", sa.Text, nullable=False),  # JSON summary of the inputs
        )

    def _row(
        self,
        conn: sa.Connection,
        nid: int,
        block: int,
        kind: str,
        inputs: dict[str, Any],
        hotkey: str | None = None,
        revision: str | None = None,
        reason: str | None = None,
    ) -> None:
        conn.execute(
            sa.insert(self.decisions).values(
                notification_id=nid,
                block=block,
                kind=kind,
                hotkey=hotkey,
                revision=revision,
                reason=reason,
                inputs=json.dumps(inputs, sort_keys=True, separators=(",", ":")),
            )
        )

    @singledispatchmethod
    def handle(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Events this projection does not need change nothing."""

    @handle.register
    def _(self, e: Contest.PoolRefreshed, conn: sa.Connection, nid: int) -> None:
        sizes = {env: len(ids) for env, ids in e.task_ids.items()}
        inputs = {"pool": e.pool, "seed_commitment": e.seed_commitment, "tasks": sizes}
        self._row(conn, nid, e.block, "pool_refreshed", inputs)

    @handle.register
    def _(self, e: Contest.ChampionCrowned, conn: sa.Connection, nid: int) -> None:
        self._row(conn, nid, e.block, "crowned", {"uid": e.uid}, e.hotkey, e.revision, e.reason)

    @handle.register
    def _(self, e: Contest.BattleStarted, conn: sa.Connection, nid: int) -> None:
        inputs = {"pool": e.pool, "deadline_block": e.deadline_block, "uid": e.uid}
        self._row(conn, nid, e.block, "battle_started", inputs, e.hotkey, e.revision)

    @handle.register
    def _(self, e: Contest.ChallengerReleased, conn: sa.Connection, nid: int) -> None:
        inputs = {"releases": e.releases}
        self._row(conn, nid, e.block, "released", inputs, e.hotkey, e.revision, e.reason)

    @handle.register
    def _(self, e: Contest.Dethroned, conn: sa.Connection, nid: int) -> None:
        new = e.new_champion
        inputs = {
            "pool": e.pool,
            "old_champion": e.old_champion.to_dict(),
            **e.inputs.to_dict(),
            "verdict": summarize_verdict(e.verdict),
        }
        self._row(
            conn,
            nid,
            e.block,
            "dethroned",
            inputs,
            new.hotkey,
            new.revision,
            e.verdict.reason,
        )

    @handle.register
    def _(self, e: Contest.Terminated, conn: sa.Connection, nid: int) -> None:
        inputs: dict[str, Any] = {} if e.inputs is None else e.inputs.to_dict()
        if e.verdict is not None:
            inputs["verdict"] = summarize_verdict(e.verdict)
        self._row(conn, nid, e.block, "terminated", inputs, e.hotkey, e.revision, e.reason)

    @handle.register
    def _(self, e: WeightLedger.WeightsSet, conn: sa.Connection, nid: int) -> None:
        inputs = {
            "contest_version": e.contest_version,
            "weights": e.weights,
            "ok": e.ok,
            "extrinsic": e.extrinsic,
        }
        self._row(conn, nid, e.block, "weights_set", inputs, reason=e.error)

    def read(self, conn: sa.Connection) -> list[dict[str, Any]]:
        rows = conn.execute(sa.select(self.decisions).order_by(self.decisions.c.notification_id))
        return [{**r._mapping, "inputs": json.loads(r.inputs)} for r in rows]
