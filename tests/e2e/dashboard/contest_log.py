"""A contest on a SQLite log with something on every page: two reigns, a battle won, one lost
by futility, one under way with samples in, a challenger queued, one blacklisted, weight
submissions landed and failed — and the writer that goes on with it while a browser watches.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.contest import Driver, fixed, fraction, small_config
from tests.support.played import set_weights
from throne.application import ThroneApplication
from throne.domain.contest.config import EnvConfig
from throne.domain.contest.samples import Sample

ENVS = (EnvConfig("SAT", 20, (0, 100)), EnvConfig("ABD", 10, (0, 100)))
MINERS = ("champ", "better", "worse", "late", "later", "banned")


def open_writer(path: Path) -> Driver:
    """The application writing the log at ``path`` (created if new), as the daemon does."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    config = small_config(envs=ENVS, rule="sequential", sequential_looks=5)
    d = Driver(app=ThroneApplication(config, env=env))
    for i, hk in enumerate(MINERS, start=1):
        d.join(hk, block=i, uid=i)
    return d


def play(path: Path) -> None:
    d = open_writer(path)
    try:
        d.sync()
        assert d.tick(8) == ["pool_refreshed"]
        assert d.tick(9) == ["crowned"]
        set_weights(d.app, 9)
        d.score({"champ": fraction(0.5)})
        assert d.tick(10) == ["battle_started"]
        d.score({"better": fixed(1.0)})
        assert d.tick(12)[0] == "dethroned"
        set_weights(d.app, 12)
        d.score({"better": fixed(1.0), "worse": fixed(0.0)})
        d.tick(14)
        assert d.challenger() == "late"
        d.app.record_weights(
            block=15,
            weights={6: 1.0},
            u16=[(6, 65535)],
            ok=False,
            extrinsic=None,
            error="the chain refused: too soon",
            contest_version=d.app.contest_version(),
        )
        d.app.operate("blacklist", "serves another model", block=15, hotkey="banned")
        record_late(d, {"SAT": 4, "ABD": 2})
    finally:
        d.app.close()


def record_late(d: Driver, first: dict[str, int]) -> int:
    """``late``'s next samples, the first ``first[env]`` of its pending work per env, with
    latencies and one model error; the number recorded."""
    work = [w for w in d.app.pending_work() if w.hotkey == "late"]
    picked = [w for env, n in first.items() for w in [x for x in work if x.env == env][:n]]
    batch = [
        Sample(
            w.pool,
            w.env,
            w.task_id,
            w.hotkey,
            w.revision,
            0.0 if i == 0 else 1.0,
            "model_error" if i == 0 else "ok",
            latency_ms=120 + 37 * i,
            completion_tokens=40 + i,
        )
        for i, w in enumerate(picked)
    ]
    d.app.record_samples(batch)
    return len(batch)
