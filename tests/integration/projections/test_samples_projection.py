"""The samples projection keeps the newest samples of the current pool, a bounded number per
env, and the same rows whether built live or from zero; no task id is kept."""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.contest import Driver, fixed, small_config
from throne.adapters.storage.database import parse_database_url
from throne.domain.contest.samples import Sample
from throne.projections.read_side import ReadSide
from throne.projections.runner import ProjectionRunner
from throne.projections.samples import SamplesProjection


def _project(
    d: Driver, per_env: int, url: str = "sqlite+pysqlite://", prefix: str = ""
) -> tuple[SamplesProjection, sa.Engine]:
    engine = (
        sa.create_engine(url)
        if url.startswith("sqlite+")
        else parse_database_url(url).create_engine()
    )
    p = SamplesProjection(d.config.netuid, prefix, per_env=per_env)
    ProjectionRunner(d.app.recorder, d.app.mapper, engine, [p], application=d.app.name).catch_up()
    return p, engine


def _played() -> Driver:
    d = Driver(small_config())
    for i, hk in enumerate(("champ", "chal"), start=1):
        d.join(hk, block=i, uid=i)
    d.sync()
    assert d.tick(5) == ["pool_refreshed"]
    assert d.tick(6) == ["crowned"]
    d.score({"champ": fixed(0.5)})
    return d


def test_only_the_newest_samples_of_each_env_are_kept(db_url: str) -> None:
    d = _played()
    p, engine = _project(d, per_env=3, url=db_url)
    with engine.connect() as conn:
        rows = p.recent(conn)
    assert sorted({r["env"] for r in rows}) == ["ABD", "SAT"]
    assert all(sum(1 for r in rows if r["env"] == env) == 3 for env in ("ABD", "SAT"))
    assert all("task_id" not in r for r in rows)
    everything, engine_all = _project(d, per_env=1000, url=db_url, prefix="all_")
    with engine_all.connect() as conn:
        all_rows = everything.recent(conn)
    for env in ("ABD", "SAT"):
        newest = [r for r in all_rows if r["env"] == env][-3:]
        assert [r for r in rows if r["env"] == env] == newest


def test_a_new_pool_discards_the_samples_of_the_old_one() -> None:
    d = _played()
    assert d.tick(120) == ["pool_refreshed"]
    p, engine = _project(d, per_env=10)
    with engine.connect() as conn:
        assert p.current_pool(conn) == 2 and p.recent(conn) == []
    work = [w for w in d.app.pending_work() if w.hotkey == "champ"][:1]
    d.app.record_samples(
        [Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 0.5, latency_ms=42) for w in work]
    )
    with d.reads.read() as r:
        pool, rows = r.recent_samples()
    assert pool == 2 and [(x["pool"], x["latency_ms"], x["score"]) for x in rows] == [(2, 42, 0.5)]


def test_the_live_read_side_and_one_built_from_zero_hold_the_same_samples() -> None:
    d = _played()
    with d.reads.read() as r:
        live = r.recent_samples()
    assert d.tick(7) == ["battle_started"]
    d.score({"chal": fixed(1.0)}, outcome="infra_error")
    again = ReadSide(d.app)
    with d.reads.read() as r, again.read() as fresh:
        assert r.recent_samples() == fresh.recent_samples()
        assert len(r.recent_samples()[1]) > len(live[1])
        assert {x["outcome"] for x in r.recent_samples()[1]} == {"ok", "infra_error"}
