"""`throne worker`: samples the work a daemon left in the shared log, without any chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.daemon.cluster import NETUID, make_world, samples_recorded, stop, wait_until
from throne.adapters.chain.absent import NoChain
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments
from throne.ports.chain import ChainError

SECRET = bytes(range(32))


def test_a_worker_samples_the_daemons_work_and_never_opens_the_chain(
    tmp_path: Path, miners: str
) -> None:
    world = make_world(tmp_path / "w", miners, SECRET)
    ranges = {n: e.id_range for n, e in environments().items()}
    # The daemon's part, in process: read the chain and open a pool and a battle; no sampling.
    daemon = build(settings_from_dict(world.settings_dict(), ranges), with_weights=False)
    try:
        for _ in range(10):
            daemon.chain.advance(1)  # type: ignore[attr-defined]
            daemon.daemon.sync_chain()
            daemon.daemon._tick(daemon.chain.current_block())
            if daemon.app.pending_work():
                break
        assert daemon.app.pending_work(), "a battle waits for its samples"
    finally:
        daemon.close_sync()
    assert samples_recorded(world.db_url) == 0

    # The worker's settings name a chain file that does not exist, on purpose.
    absent = tmp_path / "nowhere" / "chain.db"
    config = tmp_path / "worker.toml"
    config.write_text(world.config.read_text().replace(str(world.root / "chain.db"), str(absent)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "throne.cli.main", "worker", "--config", str(config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=world.root,
    )
    try:
        assert wait_until(lambda: samples_recorded(world.db_url) > 0, 60), log.read_text()[-3000:]
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()[-3000:]
    assert not absent.parent.exists()
    assert "worker_started" in log.read_text()


def test_a_workers_services_refuse_any_use_of_the_chain(tmp_path: Path, miners: str) -> None:
    world = make_world(tmp_path / "w", miners, SECRET)
    ranges = {n: e.id_range for n, e in environments().items()}
    services = build(
        settings_from_dict(world.settings_dict(), ranges), with_weights=False, role="worker"
    )
    try:
        assert isinstance(services.chain, NoChain)
        with pytest.raises(ChainError, match="does not use the chain"):
            services.chain.snapshot(NETUID)
    finally:
        services.close_sync()
