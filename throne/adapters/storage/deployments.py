"""The deployments serving now, as a table in the log's database: the hosting scheduler keeps
it current, and readers in other processes (``throne rank``) see who is deployed.

It holds the present only (a row per deployment, replaced whole at each change): the contest's
history is in the log, and how a deployment went is in the daemon's own log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from throne.adapters.storage.schema import create_tables

metadata = sa.MetaData()
deployments_table = sa.Table(
    "throne_deployments",
    metadata,
    sa.Column("hotkey", sa.String(100), primary_key=True),
    sa.Column("revision", sa.String(100), primary_key=True),
    sa.Column("model", sa.String(300), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("deployment_id", sa.String(200), nullable=False),
    sa.Column("ready_at", sa.Float, nullable=False),
    sa.Column("healthy", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
COLUMNS = ("hotkey", "revision", "model", "role", "deployment_id", "ready_at", "healthy")


class SqlDeployments:
    """The table of ``throne_deployments``, for the one daemon that hosts (the writer)."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        create_tables(metadata, engine)

    def replace(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The deployments serving now are ``rows`` (every other row goes), in one
        transaction."""
        now = self._clock()
        values = [{**{c: r[c] for c in COLUMNS}, "updated_at": now} for r in rows]
        with self._engine.begin() as conn:
            conn.execute(deployments_table.delete())
            if values:
                conn.execute(deployments_table.insert(), values)

    def current(self) -> list[dict[str, Any]]:
        return read_deployments(self._engine)


def read_deployments(engine: sa.Engine) -> list[dict[str, Any]]:
    """The deployments serving now, by hotkey; none when the log was never hosted (no table)."""
    if not sa.inspect(engine).has_table(deployments_table.name):
        return []
    t = deployments_table
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).order_by(t.c.hotkey, t.c.revision)).mappings()
        return [dict(r) for r in rows]
