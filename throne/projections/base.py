"""Read models folded from the log into SQLAlchemy Core tables, exactly once.

A :class:`Projection` names the topics it follows and handles one event at a time inside a
transaction that also moves its tracking position (``projection_tracking``). The position moves
only from the value read before the batch was selected, so a batch is applied once even when two
runners race or one crashes half-way: the loser's transaction rolls back whole.

Tables carry a prefix, so a projection can be rebuilt from zero beside the live one and compared
(or swapped) without touching it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from throne.adapters.storage.schema import create_tables

tracking_metadata = sa.MetaData()
tracking_table = sa.Table(
    "projection_tracking",
    tracking_metadata,
    sa.Column("projection", sa.String(100), primary_key=True),
    sa.Column("application", sa.String(100), primary_key=True),
    sa.Column("notification_id", sa.BigInteger, nullable=False),
)


class PositionMoved(Exception):
    """Another runner applied events to this projection first; this batch was rolled back."""


class Projection(ABC):
    """A read model: ``name`` and ``topics`` are fixed per class; ``prefix`` picks the tables."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.metadata = sa.MetaData()
        self.define_tables()

    @property
    def tracking_name(self) -> str:
        return self.prefix + self.name

    def table(self, name: str, *columns: Any) -> sa.Table:
        return sa.Table(f"{self.prefix}{self.name}_{name}", self.metadata, *columns)

    @abstractmethod
    def define_tables(self) -> None:
        """Create this projection's ``sa.Table`` objects with :meth:`table`."""

    @abstractmethod
    def process(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Fold one domain event into the tables, within the caller's transaction.

        Implementations dispatch on the event's type (``functools.singledispatchmethod``)."""

    def data_tables(self) -> list[sa.Table]:
        return list(self.metadata.sorted_tables)

    def create(self, engine: sa.Engine) -> None:
        create_tables(tracking_metadata, engine)
        create_tables(self.metadata, engine)

    def drop(self, engine: sa.Engine, application: str) -> None:
        self.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.delete(tracking_table).where(
                    tracking_table.c.projection == self.tracking_name,
                    tracking_table.c.application == application,
                )
            )


def position(conn: sa.Connection, projection: Projection, application: str) -> int:
    """The last notification id applied (0 before the first)."""
    found = conn.execute(
        sa.select(tracking_table.c.notification_id).where(
            tracking_table.c.projection == projection.tracking_name,
            tracking_table.c.application == application,
        )
    ).scalar_one_or_none()
    return int(found or 0)


def advance(
    conn: sa.Connection, projection: Projection, application: str, expected: int, new: int
) -> None:
    """Move the position from ``expected`` to ``new`` in the caller's transaction, or raise
    :class:`PositionMoved` (the caller's transaction then rolls back)."""
    # RETURNING, not rowcount: drivers do not all report a rowcount for these statements.
    if expected == 0:
        inserted = conn.execute(
            insert_ignore(conn, tracking_table).returning(tracking_table.c.notification_id),
            {
                "projection": projection.tracking_name,
                "application": application,
                "notification_id": new,
            },
        ).first()
        if inserted is not None:
            return
    moved = conn.execute(
        sa.update(tracking_table)
        .where(
            tracking_table.c.projection == projection.tracking_name,
            tracking_table.c.application == application,
            tracking_table.c.notification_id == expected,
        )
        .values(notification_id=new)
        .returning(tracking_table.c.notification_id)
    ).first()
    if moved is None:
        raise PositionMoved(f"{projection.tracking_name}: position is no longer {expected}")


def insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
