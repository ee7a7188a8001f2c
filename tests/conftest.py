"""Shared fixtures: a real SQLite file or a fresh schema on the throwaway PostgreSQL cluster.

`make test` starts the cluster (scripts/pg-cluster) and exports THRONE_TEST_POSTGRES_URL. Tests
marked ``postgres`` skip without it on a developer machine, and fail under CI, where a missing
cluster is a broken build rather than a reason to skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL_VAR = "THRONE_TEST_POSTGRES_URL"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VAR, "")
    if not url:
        message = f"{POSTGRES_URL_VAR} is not set: run the tests with `make test`"
        if _in_ci():
            pytest.fail(message + " (CI never skips PostgreSQL tests)")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A database URL whose tables live in a fresh schema, dropped after the test."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{postgres_url}?schema={schema}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def make_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'throne.db'}"
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture(params=SQL_BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One contract suite, two backends: a SQLite file, then a PostgreSQL schema."""
    return make_db_url(request.param, request, tmp_path)
