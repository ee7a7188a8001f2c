"""A short contest played to the end on a real store: the log the storage and audit tests read.

Three miners: ``champ`` is crowned, ``strong`` dethrones it, ``weak`` loses; weights are set
after each decision, and a second pool retires the first (revealing its seed).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.contest import Driver, fixed, fraction, small_config
from throne.adapters.storage.database import Database, parse_database_url
from throne.application import ThroneApplication
from throne.domain.contest.weights import to_u16


def set_weights(app: ThroneApplication, block: int) -> None:
    version, weights = app.weights()
    app.record_weights(
        block=block,
        weights=weights,
        u16=list(to_u16(weights)),
        ok=True,
        extrinsic=f"0x{block:04x}",
        error=None,
        contest_version=version,
    )


def played_database(url: str | Path) -> Database:
    """The log at ``url`` (a SQLite path, or a database URL) holding the contest :func:`play`
    plays."""
    db = parse_database_url(str(url))
    app = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    try:
        play(app)
    finally:
        app.close()
    return db


def play(app: ThroneApplication) -> Driver:
    d = play_first_pool(app)
    retire_first_pool(d)
    return d


def play_first_pool(app: ThroneApplication) -> Driver:
    """Every decision of the contest, all in pool 1, which is still current at the end."""
    d = Driver(small_config(burn=0.25), app=app)
    d.join("champ", block=1)
    d.join("strong", block=2)
    d.join("weak", block=3)
    d.sync()
    assert d.tick(5) == ["pool_refreshed"]
    assert d.tick(6) == ["crowned"]
    set_weights(app, 6)
    d.score({"champ": fraction(0.5)})
    assert d.tick(7) == ["battle_started"]
    d.score({"strong": fixed(1.0)})
    assert d.tick(8) == ["dethroned", "battle_started"]
    set_weights(app, 8)
    d.score({"weak": fixed(0.0)})
    assert d.tick(10) == ["terminated"]
    return d


def retire_first_pool(d: Driver) -> None:
    """Pool 2 is drawn, retiring pool 1; weights are set again."""
    assert d.tick(120) == ["pool_refreshed"]
    set_weights(d.app, 120)
