"""`throne demo` stopped by Ctrl-C: it ends as an interrupted command and leaves no engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.engines import engines_left, wait_until


def ready_engines(state_dir: Path) -> int:
    """Deployments the host has written down as ready (their engines answer)."""
    count = 0
    for path in state_dir.glob("*.json"):
        try:
            count += json.loads(path.read_text()).get("phase") == "ready"
        except (OSError, ValueError):
            continue  # being written or removed
    return count


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_tears_every_engine_down(tmp_path: Path) -> None:
    logs, state = tmp_path / "demo" / "hosting" / "logs", tmp_path / "demo" / "hosting" / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    demo = subprocess.Popen(
        # long battles (100 tasks), so the demo is still running when the signal comes
        [
            *(sys.executable, "-m", "throne.cli.main", "demo", "--json"),
            *("--sampling-count", "100", "--dir", str(logs.parents[1])),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # As a terminal's Ctrl-C finds it: a runner started in the background (nohup, `&` in
        # a script) hands its children SIGINT ignored, and Python keeps it so.
        preexec_fn=_default_sigint,
    )
    try:
        # Interrupted with engines serving (the champion's, the next contenders'), not only
        # loading: a loading engine is ended by its failing deploy, a serving one only by a
        # teardown.
        assert wait_until(lambda: ready_engines(state) >= 2, timeout=120, poll=0.1)
        assert engines_left(logs)
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert engines_left(logs) == []
    assert demo.returncode == 130, err.decode()[-2000:]
    assert b"Traceback" not in err
