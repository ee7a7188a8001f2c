"""A contest decided by the sequential rule, on a real SQLite log: `rank` shows the running
battle's evidence, the verdict records it, and `audit verify` recomputes it from the log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.contest import Driver, fixed, fraction, small_config
from throne.application import ThroneApplication
from throne.cli.main import main
from throne.domain.contest.config import EnvConfig
from throne.domain.contest.samples import Sample

ENVS = (EnvConfig("SAT", 20, (0, 100)), EnvConfig("ABD", 10, (0, 100)))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """champ is crowned; better (always right) dethrones it; worse (always wrong) is stopped
    by futility at an early look; then late's battle is under way with a few samples in."""
    path = tmp_path_factory.mktemp("log") / "throne.db"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    config = small_config(envs=ENVS, rule="sequential", sequential_looks=5)
    app = ThroneApplication(config, env=env)
    d = Driver(app=app)
    for i, hk in enumerate(("champ", "better", "worse", "late"), start=1):
        d.join(hk, block=i, uid=i)
    d.sync()
    assert d.tick(5) == ["pool_refreshed"]
    assert d.tick(6) == ["crowned"]
    d.score({"champ": fraction(0.5)})
    assert d.tick(7) == ["battle_started"]
    d.score({"better": fixed(1.0)})
    assert d.tick(8)[0] == "dethroned"
    d.score({"better": fixed(1.0), "worse": fixed(0.0)})
    d.tick(9)
    assert d.status("worse") == "terminated"
    assert d.challenger() == "late"
    # late: right on the first look's tasks of each env, in the pool's order.
    first = {"SAT": 4, "ABD": 2}
    work = [w for w in app.pending_work() if w.hotkey == "late"]
    picked = [w for env, n in first.items() for w in [x for x in work if x.env == env][:n]]
    app.record_samples(
        [Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 1.0) for w in picked]
    )
    app.close()
    return str(path)


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:  # type: ignore[type-arg]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_the_verdicts_record_the_sequential_evidence_they_used(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    better = _json(capsys, ["history", "--db", db, "--json"])
    text = json.dumps(better)
    assert "sequential_better_at_look_" in text and "sequential_futility_at_look_" in text
    worse = _json(capsys, ["miner", "worse", "--db", db, "--json"])
    assert worse["terminated_reason"].startswith("lost_to_champion:sequential_futility_at_look_")


def test_rank_shows_the_running_battles_look_statistic_and_bounds(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    r = _json(capsys, ["rank", "--db", db, "--json"])
    battle = r["battle"]
    assert battle["rule"] == "sequential"
    ev = battle["evidence"]
    assert (ev["method"], ev["look"], ev["looks"], ev["alpha"]) == (
        "group_sequential_obf",
        1,
        5,
        0.01,
    )
    assert ev["statistic"] < ev["bound"]  # one look of evidence does not decide this one
    assert "task_ids" not in json.dumps(r)
    assert main(["rank", "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"Evidence:   sequential: look 1/5, z {ev['statistic']:.2f}, dethrones at >= " in out


def test_audit_verify_recomputes_every_sequential_decision_from_the_log(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _json(capsys, ["audit", "verify", "--db", db, "--json"])
    assert report["ok"] and report["verdicts_checked"] == 2


def test_a_sequential_verdict_altered_in_the_log_is_named(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    copy = tmp_path / "copy.db"
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as out:
        src.backup(out)
    with sqlite3.connect(copy) as conn:
        rows = conn.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE '%Dethroned'")
        rowid, state = next(iter(rows))
        forged = bytes(state).replace(b'"look":', b'"look":9,"x":', 1)
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (forged, rowid))
    assert main(["audit", "verify", "--db", str(copy)]) == 1
    assert "verdict-mismatch" in capsys.readouterr().err
