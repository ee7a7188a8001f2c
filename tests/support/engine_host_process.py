"""A daemon-like process that owns a `LocalEngineHost` and deploys one model, then waits to be
killed: the recovery tests SIGKILL it, at a moment of their choosing, and check what a new
host finds. Run as ``python -m tests.support.engine_host_process CONFIG_JSON``."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.ports.model_host import DeploymentSpec

#: Starts the line that announces the ready deployment (the host's own log lines go to stdout).
ANNOUNCE = "deployed: "


def main(config_json: str) -> None:
    config = json.loads(config_json)
    host = LocalEngineHost(
        config["command"],
        ports=range(*config["ports"]),
        state_dir=Path(config["state_dir"]),
        log_dir=Path(config["log_dir"]),
        ready_timeout=config.get("ready_timeout", 60.0),
        poll=0.05,
    )
    deployment = host.deploy(DeploymentSpec(**config["spec"]))
    announcement = {"id": deployment.id, "base_url": deployment.base_url}
    print(ANNOUNCE + json.dumps(announcement), flush=True)
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main(sys.argv[1])
