"""Samples: the most recent samples of the current pool, at most `RECENT_PER_ENV` per env —
what the dashboard's environment and miner pages summarise (scores, latencies, outcomes).

Bounded on purpose: a log holds millions of samples, and no read needs them all. A new pool
discards the rows of the pools before it (as the standings drop a retired pool's scores), so a
projection built from zero reads only the samples after the newest ``PoolRefreshed``. No task
id is kept: a pool's ids are secret while it is in use, and no summary needs them.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from throne.domain.contest.contest import Contest
from throne.domain.contest.scorecard import Scorecard
from throne.projections.base import Projection

#: how many samples of each env are kept: the newest, of the current pool
RECENT_PER_ENV = 1000


class SamplesProjection(Projection):
    name = "samples"
    topics = (Contest.PoolRefreshed.TOPIC, Scorecard.SampleScored.TOPIC)
    reset_topic = Contest.PoolRefreshed.TOPIC
    discarded_by_reset = (Scorecard.SampleScored.TOPIC,)

    def __init__(self, netuid: int, prefix: str = "", per_env: int = RECENT_PER_ENV) -> None:
        if per_env < 1:
            raise ValueError("per_env must be at least 1")
        self.per_env = per_env
        super().__init__(netuid, prefix)

    def define_tables(self) -> None:
        self.state = self.table(
            "state",
            sa.Column("netuid", sa.Integer, primary_key=True),
            sa.Column("pool", sa.BigInteger, nullable=False),
        )
        self.samples = self.table(
            "recent",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("env", sa.String(100), nullable=False),
            sa.Column("pool", sa.BigInteger, nullable=False),
            sa.Column("hotkey", sa.String(100), nullable=False),
            sa.Column("revision", sa.Text, nullable=False),
            sa.Column("score", sa.Float, nullable=False),
            sa.Column("outcome", sa.String(20), nullable=False),
            sa.Column("latency_ms", sa.BigInteger, nullable=False),
            sa.Column("completion_tokens", sa.BigInteger, nullable=False),
            sa.Index(f"{self.tracking_name}_recent_by_env", "env", "notification_id"),
        )

    @singledispatchmethod
    def handle(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Events this projection does not need change nothing."""

    @handle.register
    def _(self, e: Contest.PoolRefreshed, conn: sa.Connection, nid: int) -> None:
        conn.execute(self.prepared(("clear",), lambda: sa.delete(self.samples)))
        if not self.update(conn, self.state, {"netuid": self.netuid}, pool=e.pool):
            self.insert(conn, self.state, {"netuid": self.netuid, "pool": e.pool})

    @handle.register
    def _(self, e: Scorecard.SampleScored, conn: sa.Connection, nid: int) -> None:
        row = {
            "notification_id": nid,
            "env": e.env,
            "pool": e.pool,
            "hotkey": e.hotkey,
            "revision": e.revision,
            "score": float(e.score),
            "outcome": e.outcome,
            "latency_ms": int(e.latency_ms),
            "completion_tokens": int(e.completion_tokens),
        }
        self.insert(conn, self.samples, row)
        conn.execute(self.prepared(("trim",), self._trim), {"env": e.env})

    def _trim(self) -> Any:
        """Delete an env's rows older than its `per_env` newest (nothing while it has fewer:
        the subquery is then NULL)."""
        t = self.samples
        oldest_kept = (
            sa.select(t.c.notification_id)
            .where(t.c.env == sa.bindparam("env"))
            .order_by(t.c.notification_id.desc())
            .limit(1)
            .offset(self.per_env - 1)
            .scalar_subquery()
        )
        return sa.delete(t).where(t.c.env == sa.bindparam("env"), t.c.notification_id < oldest_kept)

    # ---- reads --------------------------------------------------------------------------------

    def current_pool(self, conn: sa.Connection) -> int | None:
        found = conn.execute(sa.select(self.state.c.pool)).scalar_one_or_none()
        return None if found is None else int(found)

    def recent(self, conn: sa.Connection) -> list[dict[str, Any]]:
        """The samples kept of the current pool, oldest first."""
        t = self.samples
        pool = sa.select(self.state.c.pool).scalar_subquery()
        return self.records(conn, t, where=t.c.pool == pool)
