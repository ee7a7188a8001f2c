"""Read models folded from the log into SQLAlchemy Core tables, exactly once.

A :class:`Projection` names the topics it follows and handles one event at a time inside a
transaction that also moves its tracking position (``projection_tracking``). The position moves
only from the value read before the batch was selected, so a batch is applied once even when two
runners race or one crashes half-way: the loser's transaction rolls back whole.

A projection follows one contest (one netuid): events of another contest in the same log are
skipped. Its tables are named ``{prefix}{name}_{netuid}_{table}`` and its tracking row
``{prefix}{name}_{netuid}``, so the read models of two contests never share a table, a change of
a projection's tables comes with a new name (its ``schema`` goes up, which names them
``{name}_v{schema}``: a database projected by an older throne keeps its old tables, which
nothing reads, and the new ones are built from zero out of the log), and a prefix rebuilds a
projection from zero beside the live one to compare (or swap) without touching it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from throne.adapters.storage.schema import create_tables
from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.domain.contest.scorecard import Scorecard

#: the topic of every event of the contest's own stream
CONTEST_TOPICS = tuple(
    kind.TOPIC
    for kind in vars(Contest).values()
    if isinstance(kind, type) and issubclass(kind, Contest.Event) and hasattr(kind, "TOPIC")
)

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
    """A read model of one contest: ``name`` and ``topics`` are fixed per class; ``netuid``
    picks the contest and ``prefix`` the tables."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    #: The version of the tables' shape: raised with every change to them, so that a database
    #: an older throne projected (same tables, old columns) is never read as the new shape.
    #: The projection is then rebuilt from the log under the new names, beside the old tables.
    schema: ClassVar[int] = 1
    #: An event of this topic (of this projection's contest: `is_reset`) that discards all the
    #: projection holds of the events of ``discarded_by_reset`` logged before it: a runner
    #: behind the newest reset does not read those. Their rows are only ever seen through a
    #: position past the reset, so skipping them changes no read.
    reset_topic: ClassVar[str | None] = None
    discarded_by_reset: ClassVar[tuple[str, ...]] = ()

    def __init__(self, netuid: int, prefix: str = "") -> None:
        self.netuid = netuid
        self.prefix = prefix
        self.contest_id = Contest.create_id(netuid=netuid)
        self.ledger_id = WeightLedger.create_id(netuid=netuid)
        self.metadata = sa.MetaData()
        self._statements: dict[tuple[Any, ...], Any] = {}
        self.define_tables()

    @property
    def tracking_name(self) -> str:
        version = f"_v{self.schema}" if self.schema > 1 else ""
        return f"{self.prefix}{self.name}{version}_{self.netuid}"

    def table(self, name: str, *columns: Any) -> sa.Table:
        return sa.Table(f"{self.tracking_name}_{name}", self.metadata, *columns)

    @abstractmethod
    def define_tables(self) -> None:
        """Create this projection's ``sa.Table`` objects with :meth:`table`."""

    def process(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Fold one event of the log into the tables, within the caller's transaction."""
        if self.concerns(event):
            self.handle(event, conn, notification_id)

    def concerns(self, event: Any) -> bool:
        """The event belongs to this projection's contest: its own stream, its weight ledger,
        or a scorecard of its miners."""
        originator = event.originator_id
        if originator == self.contest_id or originator == self.ledger_id:
            return True
        if isinstance(event, Scorecard.SampleScored):
            card = Scorecard.create_id(
                netuid=self.netuid, pool=event.pool, hotkey=event.hotkey, revision=event.revision
            )
            return bool(originator == card)
        return False

    def is_reset(self, notification: Any) -> bool:
        """A notification of `reset_topic` is a reset of this projection's own contest."""
        return bool(notification.originator_id == self.contest_id)

    @abstractmethod
    def handle(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Fold one event of this contest into the tables, within the caller's transaction.

        Implementations dispatch on the event's type (``functools.singledispatchmethod``)."""

    # ---- statements -----------------------------------------------------------------------
    # Handlers run once per event: their statements are built once and given parameters, which
    # costs SQLAlchemy a fifth of building one per event.

    def prepared(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The statement built by ``build``, built once per ``key``."""
        found = self._statements.get(key)
        if found is None:
            found = self._statements[key] = build()
        return found

    def insert(
        self, conn: sa.Connection, table: sa.Table, row: Mapping[str, Any], *, ignore: bool = False
    ) -> None:
        """Insert ``row``; ``ignore``: unless a row with its key is there already."""
        key = ("insert", table.name, ignore, conn.dialect.name)
        build = (lambda: insert_ignore(conn, table)) if ignore else table.insert
        conn.execute(self.prepared(key, build), dict(row))

    def update(
        self, conn: sa.Connection, table: sa.Table, where: Mapping[str, Any], **values: Any
    ) -> int:
        """Set ``values`` on the rows whose columns equal ``where``'s; how many rows matched."""

        def build() -> Any:
            return (
                sa.update(table)
                .where(*(table.c[c] == sa.bindparam(f"w_{c}") for c in where))
                .values({c: sa.bindparam(f"v_{c}") for c in values})
            )

        key = ("update", table.name, tuple(where), tuple(values))
        params = {f"w_{c}": v for c, v in where.items()} | {f"v_{c}": v for c, v in values.items()}
        return int(conn.execute(self.prepared(key, build), params).rowcount)

    def delete(self, conn: sa.Connection, table: sa.Table, where: Mapping[str, Any]) -> None:
        """Delete the rows whose columns equal ``where``'s."""

        def build() -> Any:
            return sa.delete(table).where(*(table.c[c] == sa.bindparam(f"w_{c}") for c in where))

        key = ("delete", table.name, tuple(where))
        conn.execute(self.prepared(key, build), {f"w_{c}": v for c, v in where.items()})

    def records(
        self, conn: sa.Connection, table: sa.Table, where: Any = None
    ) -> list[dict[str, Any]]:
        """The rows of ``table`` (those ``where`` picks) in the order of its key, each a dict
        of its columns in their order but the key (a notification id, which no read shows);
        JSON columns (`JSON_COLUMN`) decoded."""
        keys = {c.name for c in table.primary_key.columns}
        shown = [c for c in table.columns if c.name not in keys]
        decoded = [c.info.get("json", False) for c in shown]
        select = sa.select(*shown).order_by(*table.primary_key.columns)
        rows = conn.execute(select if where is None else select.where(where))
        names = [c.name for c in shown]
        return [
            {
                name: load_json(value) if is_json else value
                for name, value, is_json in zip(names, row, decoded, strict=True)
            }
            for row in rows
        ]

    def data_tables(self) -> list[sa.Table]:
        return list(self.metadata.sorted_tables)

    def create(self, engine: sa.Engine) -> None:
        create_tables(tracking_metadata, engine)
        create_tables(self.metadata, engine)

    def create_in(self, conn: sa.Connection) -> None:
        """Create the tables in a database known to hold none of them yet (no checks first)."""
        for table in self.metadata.sorted_tables:
            table.create(conn, checkfirst=False)

    def drop(self, engine: sa.Engine, application: str) -> None:
        self.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.delete(tracking_table).where(
                    tracking_table.c.projection == self.tracking_name,
                    tracking_table.c.application == application,
                )
            )


_t = tracking_table.c
# (Parameters are not named after the columns: an UPDATE keeps those names for its SET.)
_POSITION = sa.select(_t.notification_id).where(
    _t.projection == sa.bindparam("p"), _t.application == sa.bindparam("a")
)
_MOVE = (
    sa.update(tracking_table)
    .where(
        _t.projection == sa.bindparam("p"),
        _t.application == sa.bindparam("a"),
        _t.notification_id == sa.bindparam("expected"),
    )
    .values(notification_id=sa.bindparam("new"))
    .returning(_t.notification_id)
)


def position(conn: sa.Connection, projection: Projection, application: str) -> int:
    """The last notification id applied (0 before the first)."""
    key = {"p": projection.tracking_name, "a": application}
    return int(conn.execute(_POSITION, key).scalar_one_or_none() or 0)


def advance(
    conn: sa.Connection, projection: Projection, application: str, expected: int, new: int
) -> None:
    """Move the position from ``expected`` to ``new`` in the caller's transaction, or raise
    :class:`PositionMoved` (the caller's transaction then rolls back)."""
    name = projection.tracking_name
    # RETURNING, not rowcount: drivers do not all report a rowcount for these statements.
    if expected == 0:
        first = projection.prepared(
            ("track", conn.dialect.name),
            lambda: insert_ignore(conn, tracking_table).returning(_t.notification_id),
        )
        row = {"projection": name, "application": application, "notification_id": new}
        if conn.execute(first, row).first() is not None:
            return
    moved = {"p": name, "a": application, "expected": expected, "new": new}
    if conn.execute(_MOVE, moved).first() is None:
        raise PositionMoved(f"{projection.tracking_name}: position is no longer {expected}")


#: a column holding JSON text (`dump_json`), decoded by `Projection.records`
JSON_COLUMN = {"json": True}


def dump_json(value: Any) -> str:
    """A JSON column's text. Keys keep their order: views serve these dicts as they were."""
    return orjson.dumps(value).decode()


def load_json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
