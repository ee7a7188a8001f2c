"""One writer per log: a second daemon on SQLite is refused; on PostgreSQL it stands by, samples,
and takes the writer's role when the holder dies or loses its session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.daemon.cluster import (
    World,
    decisions,
    make_world,
    profiles,
    settled,
    stop,
    wait_until,
)
from tests.support.command import THRONE
from tests.support.contest import read_standings
from throne.adapters.chain.local import LocalChain
from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.pg_session import advisory_key
from throne.audit.sources import DatabaseLog
from throne.audit.verification import verify
from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.envs.registry import environments

SECRET = bytes(range(32))
#: The command as its entry point runs it (``python -m`` would import the CLI module twice,
#: and a refusal would come out as a traceback of the second copy's error class).


def start(world: World, log: Path, command: str = "run") -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    return subprocess.Popen(
        [sys.executable, "-c", THRONE, command, "--config", str(world.config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=world.root,
    )


def said(log: Path, word: str) -> bool:
    return log.is_file() and word in log.read_text()


def test_a_second_daemon_on_a_sqlite_log_is_refused_while_workers_are_welcome(
    tmp_path: Path, miners: str
) -> None:
    world = make_world(tmp_path / "w", miners, SECRET)
    first_log, second_log, worker_log = (tmp_path / n for n in ("first", "second", "worker"))
    first = start(world, first_log)
    try:
        assert wait_until(lambda: said(first_log, "daemon_started"), 60), first_log.read_text()
        second = start(world, second_log)
        assert second.wait(timeout=60) == 1
        lines = second_log.read_text().strip().splitlines()
        assert len(lines) == 1, lines
        assert "already writes" in lines[0] and f"pid {first.pid}" in lines[0]
        assert "throne worker" in lines[0]

        worker = start(world, worker_log, "worker")
        assert wait_until(lambda: said(worker_log, "worker_started"), 60), worker_log.read_text()
        assert stop(worker) == 0

        first.kill()  # the kernel lets go of the lock with the process
        first.wait()
        third = start(world, tmp_path / "third")
        assert wait_until(lambda: said(tmp_path / "third", "daemon_started"), 60)
        assert stop(third) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


# ---- PostgreSQL: a hot standby ----------------------------------------------------------------


def writer_session(db_url: str) -> int | None:
    """The server pid of the session holding the log's writer lock, if any."""
    import psycopg

    db = parse_database_url(db_url)
    key = advisory_key(db, "writer") & 0xFFFF_FFFF_FFFF_FFFF
    base = db_url.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
            (key >> 32, key & 0xFFFF_FFFF),
        ).fetchone()
    return None if row is None else int(row[0])


def acquisitions(tmp_path: Path) -> int:
    return sum((tmp_path / n).read_text().count("role_acquired") for n in ("a", "b"))


def weights_blocks(world: World) -> list[int]:
    try:
        with world.app() as app:
            return [
                int(e.block)
                for e in app.events.get(app.ledger_id)
                if isinstance(e, WeightLedger.WeightsSet)
            ]
    except Exception:
        return []


def in_battle(world: World) -> bool:
    try:
        with world.app() as app:
            return read_standings(app)["battle"] is not None
    except Exception:
        return False


def decision_blocks(world: World) -> list[int]:
    with world.app() as app:
        return [
            int(e.block)
            for e in app.events.get(app.contest_id)
            if isinstance(e, Contest.Dethroned)
            or (isinstance(e, Contest.Terminated) and not e.reason.startswith("dethroned_by:"))
        ]


def assert_each_battle_decided_once(world: World, db_url: str) -> None:
    with world.app() as app:
        ends = decisions(app)
        starts = Counter(
            e.hotkey for e in app.events.get(app.contest_id) if isinstance(e, Contest.BattleStarted)
        )
    assert len(ends) == len(profiles()) - 1  # every challenger decided: none lost
    assert Counter(hk for _, hk, _ in ends) == starts
    assert max(starts.values()) == 1  # none twice
    summary = verify(DatabaseLog(parse_database_url(db_url))).replay
    assert summary.verdicts_checked == len(ends)


def two_daemons(world: World, tmp_path: Path) -> tuple[dict[str, subprocess.Popen[bytes]], str]:
    """Both started together on a fresh schema; returns them by log name and the writer's."""
    procs = {name: start(world, tmp_path / name) for name in ("a", "b")}
    logs = {name: tmp_path / name for name in procs}
    assert wait_until(lambda: all(said(p, "role_") for p in logs.values()), 90), {
        n: p.read_text()[-2000:] for n, p in logs.items()
    }
    writers = [n for n, p in logs.items() if said(p, "role_acquired")]
    assert len(writers) == 1, writers
    (standby,) = set(procs) - set(writers)
    assert said(logs[standby], "role_standby")
    return procs, writers[0]


@pytest.mark.postgres
def test_a_standby_takes_the_role_when_the_writer_is_killed_and_nothing_is_decided_twice(
    tmp_path: Path, miners: str, postgres_schema_url: str
) -> None:
    world = make_world(tmp_path / "w", miners, SECRET, db_url=postgres_schema_url)
    procs, writer = two_daemons(world, tmp_path)
    (standby,) = set(procs) - {writer}
    try:
        # Killed in the middle of a battle, after it has set weights at least once.
        assert wait_until(lambda: in_battle(world) and bool(weights_blocks(world)), 120), (
            tmp_path / writer
        ).read_text()[-3000:]
        procs[writer].send_signal(signal.SIGKILL)
        procs[writer].wait()
        killed_at = LocalChain(world.root / "chain.db").current_block()
        assert wait_until(lambda: said(tmp_path / standby, "role_acquired"), 30)
        assert wait_until(lambda: settled(world), 180), (tmp_path / standby).read_text()[-3000:]
        assert wait_until(lambda: max(weights_blocks(world)) > killed_at, 60)
        assert stop(procs[standby]) == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert_each_battle_decided_once(world, postgres_schema_url)
    assert any(block > killed_at for block in decision_blocks(world))  # the standby decided


@pytest.mark.postgres
def test_a_writer_whose_session_is_lost_stops_writing_and_the_role_passes_on(
    tmp_path: Path, miners: str, postgres_schema_url: str
) -> None:
    import psycopg

    world = make_world(tmp_path / "w", miners, SECRET, db_url=postgres_schema_url)
    procs, writer = two_daemons(world, tmp_path)
    (standby,) = set(procs) - {writer}
    try:
        assert wait_until(lambda: bool(weights_blocks(world)), 120)
        session = writer_session(postgres_schema_url)
        assert session is not None
        with psycopg.connect(postgres_schema_url.split("?", 1)[0], autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (session,))
        assert wait_until(lambda: said(tmp_path / writer, "role_lost"), 30)
        # The role passes to one of them (the standby, unless it is slower than the pause of
        # the daemon that lost it); both keep running.
        assert wait_until(lambda: acquisitions(tmp_path) == 2, 30)
        assert all(proc.poll() is None for proc in procs.values())
        assert wait_until(lambda: settled(world), 180), (tmp_path / standby).read_text()[-3000:]
        last = max(weights_blocks(world))
        assert wait_until(lambda: max(weights_blocks(world)) > last, 60)
        for proc in procs.values():
            assert stop(proc) == 0
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert_each_battle_decided_once(world, postgres_schema_url)


def test_a_daemon_that_fails_to_start_lets_go_of_the_sqlite_log(
    tmp_path: Path, miners: str
) -> None:
    from dataclasses import replace

    from throne.adapters.chain.local import LocalChainMissing
    from throne.app import build
    from throne.daemon.settings import settings_from_dict

    world = make_world(tmp_path / "w", miners, SECRET)
    ranges = {n: e.id_range for n, e in environments().items()}
    settings = settings_from_dict(world.settings_dict(), ranges)
    broken = replace(settings, validator=replace(settings.validator, chain_db=str(tmp_path / "no")))
    with pytest.raises(LocalChainMissing):
        build(broken, environments=environments(), pool_secret=SECRET)
    services = build(settings, environments=environments(), pool_secret=SECRET)  # free again
    services.close_sync()
