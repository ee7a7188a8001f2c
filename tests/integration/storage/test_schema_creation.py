"""Processes that start together on a fresh database both get the log, neither a traceback."""

from __future__ import annotations

import multiprocessing
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.pg_session import advisory_key, connect
from throne.adapters.storage.schema import SchemaCreationTimeout, creating
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments

ROUNDS = 12


def _open_everything(url: str) -> None:
    """What a worker does at start: every table of the log, the read models and claims."""
    ranges = {n: e.id_range for n, e in environments().items()}
    settings = settings_from_dict({"validator": {"db": url}}, ranges)
    services = build(
        settings,
        environments=environments(),
        role="worker",
        with_weights=False,
        pool_secret=bytes(32),
    )
    services.close_sync()


def _starter(pipe: Connection, start: Any) -> None:
    while (url := pipe.recv()) is not None:
        start.wait()
        try:
            _open_everything(url)
            pipe.send("ok")
        except Exception as exc:
            pipe.send(f"{type(exc).__name__}: {exc}")


def _fresh_url(backend: str, postgres_url: str, tmp_path: Path, i: int) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'round{i}.db'}"
    import psycopg

    schema = f"race_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{postgres_url}?schema={schema}"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_two_processes_creating_a_fresh_log_together_both_succeed(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    postgres_url = request.getfixturevalue("postgres_url") if backend == "postgresql" else ""
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(2)
    pipes = []
    procs = []
    for _ in range(2):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_starter, args=(theirs, start))
        proc.start()
        pipes.append(mine)
        procs.append(proc)
    failures = []
    schemas = []
    try:
        for i in range(ROUNDS):
            url = _fresh_url(backend, postgres_url, tmp_path, i)
            schemas.append(url)
            for pipe in pipes:
                pipe.send(url)
            results = [pipe.recv() for pipe in pipes]
            failures += [f"round {i}: {r}" for r in results if r != "ok"]
    finally:
        for pipe in pipes:
            pipe.send(None)
        for proc in procs:
            proc.join(timeout=30)
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(postgres_url, autocommit=True) as conn:
                for url in schemas:
                    schema = url.rsplit("schema=", 1)[1]
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert failures == []


@pytest.mark.postgres
def test_a_creator_kept_waiting_too_long_says_so_in_one_line(
    postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from throne.adapters.storage import schema

    db = parse_database_url(postgres_schema_url)
    monkeypatch.setattr(schema, "CREATION_WAIT_S", 1)
    holder = connect(db)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (advisory_key(db, "schema"),))
        with (
            pytest.raises(SchemaCreationTimeout, match="another throne process") as exc,
            creating(db),
        ):
            pass
        assert "\n" not in str(exc.value)
    finally:
        holder.close()
    with creating(db):  # the holder gone, creation goes on
        pass
