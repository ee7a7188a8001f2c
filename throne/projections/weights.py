"""Weights: every weight submission the validator recorded, by block, whether it landed or not.

The vector the contest gives now is not kept here: it is a pure function of the standings
(`throne.domain.contest.weights.contest_weights` of the champion and the burn).
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from throne.domain.contest.ledger import WeightLedger
from throne.projections.base import JSON_COLUMN, Projection, dump_json


class WeightsProjection(Projection):
    name = "weights"
    topics = (WeightLedger.WeightsSet.TOPIC,)

    def define_tables(self) -> None:
        # Columns in the order the views show a submission.
        self.submissions_table = self.table(
            "submissions",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("block", sa.BigInteger, nullable=False, index=True),
            sa.Column("ok", sa.Boolean, nullable=False),
            # {uid: weight} in the order recorded
            sa.Column("weights", sa.Text, nullable=False, info=JSON_COLUMN),
            sa.Column("u16", sa.Text, nullable=False, info=JSON_COLUMN),  # [[uid, value], ...]
            sa.Column("extrinsic", sa.Text),
            sa.Column("error", sa.Text),
            sa.Column("contest_version", sa.BigInteger, nullable=False),
        )

    @singledispatchmethod
    def handle(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Events this projection does not need change nothing."""

    @handle.register
    def _(self, e: WeightLedger.WeightsSet, conn: sa.Connection, nid: int) -> None:
        submission = {
            "notification_id": nid,
            "block": e.block,
            "contest_version": e.contest_version,
            "ok": e.ok,
            "extrinsic": e.extrinsic,
            "error": e.error,
            # In the order recorded: the views serve it so.
            "weights": dump_json(e.weights),
            "u16": dump_json([list(p) for p in e.u16]),
        }
        self.insert(conn, self.submissions_table, submission)

    # ---- reads --------------------------------------------------------------------------------

    def submissions(self, conn: sa.Connection) -> list[dict[str, Any]]:
        """Every weight submission, oldest first."""
        return self.records(conn, self.submissions_table)

    def last_submission(self, conn: sa.Connection) -> dict[str, Any] | None:
        """The newest submission, whether the chain accepted it or not."""
        t = self.submissions_table
        newest = sa.select(sa.func.max(t.c.notification_id)).scalar_subquery()
        found = self.records(conn, t, where=t.c.notification_id == newest)
        return found[0] if found else None
