"""Where the log lives: one URL selects SQLite or PostgreSQL for the log and its read models.

The URL comes from ``--db`` or ``THRONE_DB``; without either, the log is one SQLite file in the
user's data directory. Accepted forms:

- ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's spelling), or a
  plain file path;
- ``postgresql://user:password@host:port/dbname`` (also ``postgres://`` and
  ``postgresql+psycopg://``), optionally ``?schema=NAME`` to keep the tables in one schema.

A :class:`Database` turns into the eventsourcing environment of the application (native
``eventsourcing.sqlite`` or ``eventsourcing.postgres``) and into a SQLAlchemy engine on the
same database for read models, so a projection's rows and the log share one store.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

import sqlalchemy as sa

from throne.adapters.storage.location import sqlite_location_problem

DB_ENV_VAR = "THRONE_DB"
DEFAULT_LOCK_TIMEOUT_S = 5
DEFAULT_CONNECT_TIMEOUT_S = 5
#: no statement of the daemon runs this long; one that does waits on something that is wrong
DEFAULT_STATEMENT_TIMEOUT_S = 60
#: a PostgreSQL server that stops answering (host down, network cut) is given up on after about
#: idle + interval x count seconds of silence, or when sent data stays unacknowledged this long
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
TCP_USER_TIMEOUT_MS = 30_000
#: the event store's reads never wait for a lock in normal operation (its writes take EXCLUSIVE
#: mode, which lets reads through), so one that waits is behind DDL or maintenance; eventsourcing
#: retries a failed read ten times, so this bounds a blocked read to about ten seconds
EVENT_READ_LOCK_TIMEOUT_MS = 1000
#: how long the event store waits for a connection from its pool: with the server gone, every
#: attempt waits this long and eventsourcing makes ten, so this bounds the wait to ~ten seconds
EVENT_POOL_WAIT_S = 1.0

Backend = Literal["sqlite", "postgresql"]


class StorageError(Exception):
    """The database cannot be used: missing, locked, unreachable or not understood.

    The message is one line, meant for the person who typed the URL.
    """


def default_database_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The embedded default: ``$XDG_DATA_HOME/throne/throne.db`` (``~/.local/share`` without)."""
    base = environ.get("XDG_DATA_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    return Path(base) / "throne" / "throne.db"


@dataclass(frozen=True)
class Database:
    """A parsed database URL. Build one with :func:`parse_database_url`."""

    backend: Backend
    path: Path | None = None
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = ""
    read_only: bool = False
    lock_timeout_s: int = DEFAULT_LOCK_TIMEOUT_S
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S
    statement_timeout_s: int = DEFAULT_STATEMENT_TIMEOUT_S

    @property
    def display(self) -> str:
        """The URL without its password, for messages and logs."""
        if self.backend == "sqlite":
            return f"sqlite:///{self.path}"
        schema = f"?schema={self.schema}" if self.schema else ""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}{schema}"

    def readonly(self) -> Database:
        """The same database, opened so that nothing can be written (for audits)."""
        return replace(self, read_only=True)

    def eventsourcing_env(self, *, create_tables: bool = True) -> dict[str, str]:
        """Settings for an eventsourcing ``Application(env=...)`` on this database."""
        create = "y" if create_tables and not self.read_only else "n"
        if self.backend == "sqlite":
            assert self.path is not None
            name = str(self.path)
            if self.read_only:
                name = f"file:{quote(name)}?mode=ro"
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": name,
                "SQLITE_LOCK_TIMEOUT": str(self.lock_timeout_s),
                "CREATE_TABLE": create,
            }
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout_s),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_s),
            "CREATE_TABLE": create,
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env

    def sqlalchemy_url(self) -> sa.URL:
        if self.backend == "sqlite":
            assert self.path is not None
            if self.read_only:
                return sa.make_url(
                    f"sqlite+pysqlite:///file:{quote(str(self.path))}?mode=ro&uri=true"
                )
            return sa.URL.create("sqlite+pysqlite", database=str(self.path))
        return sa.URL.create(
            "postgresql+psycopg",
            username=self.user or None,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=self.dbname,
        )

    def create_engine(self) -> sa.Engine:
        """A SQLAlchemy engine for read models on the same database as the log."""
        if self.backend == "sqlite":
            return sa.create_engine(
                self.sqlalchemy_url(), connect_args={"timeout": float(self.lock_timeout_s)}
            )
        limits = self.session_limits()
        options = [limits.pop("options")]
        if self.schema:
            options.append(f"-c search_path={self.schema}")
        if self.read_only:
            options.append("-c default_transaction_read_only=on")
        return sa.create_engine(
            self.sqlalchemy_url(),
            connect_args={
                "connect_timeout": self.connect_timeout_s,
                "options": " ".join(options),
                **limits,
            },
            pool_pre_ping=True,
        )

    def session_limits(self, lock_timeout_ms: int | None = None) -> dict[str, Any]:
        """libpq parameters that bound every PostgreSQL session: how long one statement may
        run, how long it may wait for a lock (default `lock_timeout_s`), and how soon a silent
        server is given up on. A blocked statement then fails instead of hanging."""
        lock_ms = self.lock_timeout_s * 1000 if lock_timeout_ms is None else lock_timeout_ms
        options = (
            f"-c lock_timeout={lock_ms} -c statement_timeout={self.statement_timeout_s * 1000}"
        )
        return {"options": options, **KEEPALIVES, "tcp_user_timeout": TCP_USER_TIMEOUT_MS}


_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def parse_database_url(url: str) -> Database:
    """Parse ``url`` (see the module docstring); raise :class:`StorageError` if not understood."""
    text = url.strip()
    if not text:
        raise StorageError("empty database URL")
    scheme, sep, _ = text.partition("://")
    if not sep:
        return Database(backend="sqlite", path=Path(text).expanduser().absolute())
    scheme = scheme.lower()
    if scheme in ("sqlite", "sqlite+pysqlite"):
        rest = text[len(scheme) + 3 :]
        if not rest.startswith("/") or rest in ("/", "/:memory:"):
            raise StorageError(
                f"not a SQLite file URL: {url!r} (use sqlite:///relative.db or sqlite:////abs.db)"
            )
        path = unquote(rest[1:].split("?", 1)[0])
        return Database(backend="sqlite", path=Path(path).expanduser().absolute())
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        parts = urlsplit(text)
        query = parse_qs(parts.query)
        unknown = set(query) - {"schema", "connect_timeout"}
        if unknown:
            raise StorageError(f"unknown database URL parameter(s): {', '.join(sorted(unknown))}")
        schema = query.get("schema", [""])[-1]
        if schema and not _SCHEMA_NAME.match(schema):
            raise StorageError(f"not a valid schema name: {schema!r}")
        dbname = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not dbname:
            raise StorageError(f"PostgreSQL URL needs a host and a database name: {url!r}")
        try:
            port = parts.port or 5432
        except ValueError:
            raise StorageError(f"not a valid port in database URL: {url!r}") from None
        timeout = query.get("connect_timeout", [str(DEFAULT_CONNECT_TIMEOUT_S)])[-1]
        if not timeout.isdigit():
            raise StorageError(f"connect_timeout must be whole seconds, not {timeout!r}")
        return Database(
            backend="postgresql",
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            dbname=dbname,
            schema=schema,
            connect_timeout_s=int(timeout),
        )
    raise StorageError(
        f"unsupported database URL scheme {scheme!r}: use sqlite:// or postgresql://"
    )


def resolve_database(cli_value: str | None, environ: Mapping[str, str] = os.environ) -> Database:
    """``--db`` if given, else ``THRONE_DB``, else the default file in the user's data dir."""
    url = cli_value or environ.get(DB_ENV_VAR) or ""
    if not url:
        return Database(backend="sqlite", path=default_database_path(environ))
    return parse_database_url(url)


def limit_event_store_sessions(recorder: object, db: Database) -> None:
    """Give the event store's PostgreSQL sessions the limits of :meth:`Database.session_limits`.

    eventsourcing sets a lock timeout on its writes only (``SET LOCAL``, which still applies to
    them), so one of its reads could wait for a lock forever. Its connection pool takes the
    parameters for the connections it opens from then on; `drain` replaces the open ones. A
    caller waits for a connection of the pool at most `EVENT_POOL_WAIT_S`.
    """
    from eventsourcing.postgres import PostgresRecorder

    if db.backend != "postgresql" or not isinstance(recorder, PostgresRecorder):
        return
    pool = recorder.datastore.pool
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
    pool.kwargs = {**kwargs, **db.session_limits(EVENT_READ_LOCK_TIMEOUT_MS)}
    pool.timeout = min(float(pool.timeout), EVENT_POOL_WAIT_S)
    pool.drain()


def _first_line(exc: BaseException) -> str:
    # SQLAlchemy wraps the driver's error and prefixes its class: the driver's words say it.
    orig = getattr(exc, "orig", None)
    text = str(orig if isinstance(orig, BaseException) else exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    # psycopg: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  why'
    return line.split("FATAL:", 1)[-1].strip()


def describe_failure(db: Database, exc: BaseException) -> str:
    """One line saying why ``db`` could not be used, and what to do, from a driver's error."""
    detail = _first_line(exc)
    low = detail.lower()
    if db.backend == "sqlite":
        if "locked" in low or "busy" in low:
            return f"database is locked by another process: {db.path} (waited {db.lock_timeout_s}s)"
        if "unable to open" in low or "readonly" in low or "read-only" in low:
            return f"cannot open database {db.path}: {detail}; choose a place you can write"
        if "file is not a database" in low:
            return (
                f"{db.path} is not a SQLite database (garbage, cut short or another kind of "
                "file): give the path of a throne log, or a new path to start one"
            )
        if "malformed" in low:
            return f"the log {db.path} is corrupt ({detail}): restore it from a backup"
        return f"database {db.path}: {detail}"
    where = f"PostgreSQL at {db.host}:{db.port}"
    if "does not exist" in low:
        if low.startswith("database"):
            return f"{where}: {detail}: create it (createdb {db.dbname}) or correct the URL"
        return f"{where}: {detail}"
    if "authentication" in low or "password" in low:
        return f"{where} refused the login: {detail}: check the user and password in the URL"
    if any(w in low for w in ("connection", "connect", "timeout", "refused", "resolve")):
        return f"cannot reach {where}: {detail}: is it running, and are the host and port right?"
    if "lock" in low:
        return f"PostgreSQL database {db.dbname} is locked: {detail}"
    return f"PostgreSQL database {db.display}: {detail}"


def _storage_exception_types() -> tuple[type[BaseException], ...]:
    import psycopg
    from eventsourcing.persistence import PersistenceError

    return (sqlite3.Error, psycopg.Error, sa.exc.DBAPIError, PersistenceError)


def is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from the database (a driver, SQLAlchemy or eventsourcing's
    persistence), as opposed to the code that called it."""
    return isinstance(exc, _storage_exception_types())


@contextmanager
def storage_errors(db: Database) -> Iterator[None]:
    """Turn database failures inside the block into one-line :class:`StorageError`."""
    try:
        yield
    except StorageError:
        raise
    except _storage_exception_types() as exc:
        raise StorageError(describe_failure(db, exc)) from exc


def check_database(db: Database, *, must_exist: bool, create_parent: bool = True) -> None:
    """Fail early, with one line, when ``db`` cannot be opened.

    With ``must_exist`` a SQLite file must already be there (audits read, never create); else it
    must be writable where it is, and its directory is created unless ``create_parent`` is
    false. A PostgreSQL URL's ``?schema=`` must name a schema that exists.
    """
    if db.backend == "sqlite":
        assert db.path is not None
        if must_exist and not db.path.is_file():
            raise StorageError(f"database not found: {db.path}")
        if not must_exist:
            problem = sqlite_location_problem(db.path, create_parent=create_parent)
            if problem is not None:
                raise StorageError(problem)
            try:
                db.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create {db.path.parent}: {exc.strerror}") from exc
    engine = db.create_engine()
    try:
        with storage_errors(db), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            if db.backend == "sqlite":
                # A plain SELECT 1 never touches the file; this does, and notices locks.
                conn.execute(sa.text("SELECT count(*) FROM sqlite_master"))
            elif db.schema:
                found = conn.execute(
                    sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :name"),
                    {"name": db.schema},
                ).first()
                if found is None:
                    raise StorageError(
                        f"schema {db.schema!r} does not exist in {db.display}: create it "
                        f"(CREATE SCHEMA {db.schema}) or leave ?schema= out of the URL"
                    )
    finally:
        engine.dispose()
