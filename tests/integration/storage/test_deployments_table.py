"""The deployments table, on SQLite and PostgreSQL, and `throne rank`'s ⚡ column read from it."""

from __future__ import annotations

import pytest

from tests.support.contest import Driver, fixed
from throne import views
from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.deployments import SqlDeployments, read_deployments
from throne.app import deployed_hotkeys, open_reads
from throne.application import ThroneApplication
from throne.cli import rank as rank_cli
from throne.domain.contest.config import ContestConfig


def row(hotkey: str, role: str) -> dict[str, object]:
    return {
        "hotkey": hotkey,
        "revision": "r1",
        "model": f"org/affine-{hotkey}",
        "role": role,
        "deployment_id": f"d-{hotkey}",
        "ready_at": 12.5,
        "healthy": True,
    }


def test_the_table_holds_the_deployments_serving_now(db_url: str) -> None:
    engine = parse_database_url(db_url).create_engine()
    try:
        assert read_deployments(engine) == [], "a log never hosted has none"
        table = SqlDeployments(engine, clock=lambda: 99.0)
        table.replace([row("champ", "champion"), row("a", "pre_challenger")])
        table.replace([row("champ", "champion"), row("b", "challenger")])
        got = table.current()
        assert [(r["hotkey"], r["role"], r["healthy"]) for r in got] == [
            ("b", "challenger", True),
            ("champ", "champion", True),
        ]
        assert all(r["updated_at"] == 99.0 for r in got)
        table.replace([])
        assert table.current() == []
    finally:
        engine.dispose()


def test_rank_marks_the_miners_deployed_now(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = parse_database_url(db_url)
    d = Driver(app=ThroneApplication(ContestConfig(), env=db.eventsourcing_env()))
    d.config = d.app.config
    for i, hotkey in enumerate(("champ", "a", "b")):
        d.join(hotkey, block=1 + i)
    d.sync()
    d.tick(2)
    d.tick(3)
    d.score({"champ": fixed(0.5)})
    engine = db.create_engine()
    SqlDeployments(engine).replace([row("champ", "champion"), row("a", "pre_challenger")])
    engine.dispose()
    d.app.close()
    reads = open_reads(db, ContestConfig())
    try:
        deployed = deployed_hotkeys(reads)
        data = views.rank(reads, deployed=deployed)
    finally:
        reads.close()
    assert deployed == {"champ", "a"}
    assert {r["hotkey"]: r["deployed"] for r in data["rows"]} == {
        "champ": True,
        "a": True,
        "b": False,
    }
    rank_cli.render(data)
    lines = capsys.readouterr().out.splitlines()
    assert any("⚡" in line for line in lines[:12]), "the column's header"
    marked = [line for line in lines if "⚡" in line and "org/affine-" in line]
    assert len(marked) == 2 and not any("org/affine-b" in line for line in marked)
