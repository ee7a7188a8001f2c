"""`throne publish --every-blocks N` as a long-running process beside a local chain: it
publishes at once, then again once the chain is N blocks on, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.command import THRONE, throne
from tests.support.contest import small_config
from tests.support.paths import ROOT
from tests.support.played import play_first_pool, retire_first_pool
from tests.support.s3 import S3Server
from tests.support.waiting import wait_until
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication


def test_it_publishes_every_n_blocks_until_stopped(s3: S3Server, tmp_path: Path, aws: None) -> None:
    db = parse_database_url(str(tmp_path / "log.db"))
    app = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    driver = play_first_pool(app)
    assert throne("localnet", "init", "--clock", "manual", cwd=tmp_path).returncode == 0
    bucket = s3.new_bucket()

    def parts() -> int:
        objects = s3.objects(bucket, "v/")
        return len(json.loads(objects["index.json"])["parts"]) if "index.json" in objects else 0

    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(ROOT)  # this checkout's throne, whatever the working directory
    argv = ["publish", "--to", f"s3://{bucket}/v", "--db", str(tmp_path / "log.db")]
    argv += ["--endpoint-url", s3.url, "--every-blocks", "2", "--poll", "0.05"]
    with (tmp_path / "publish.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", THRONE, *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )

    def reaches(count: int) -> bool:
        assert proc.poll() is None, (tmp_path / "publish.log").read_text()
        return parts() == count

    try:
        assert wait_until(lambda: reaches(1), timeout=60)
        retire_first_pool(driver)  # the log grows; the chain moves on two blocks
        assert throne("localnet", "advance", "--blocks", "2", cwd=tmp_path).returncode == 0
        assert wait_until(lambda: reaches(2), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        app.close()
    output = (tmp_path / "publish.log").read_text()
    assert code == 0 and "Traceback" not in output and output.count("published") == 2
