"""A process that owns an `SshEngineHost` and is then killed, for tests of `recover`.

``python -m tests.support.ssh_owner CONFIG_JSON`` deploys one miner per hotkey the config
names, prints each deployment as one JSON line, then waits to be killed: whatever it leaves
is what a daemon killed with SIGKILL leaves.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from throne.adapters.hosting.ssh_engine import SshBox, SshEngineHost
from throne.ports.model_host import DeploymentSpec


def main(argv: list[str]) -> int:
    config = json.loads(argv[0])
    box = SshBox(
        "box",
        "127.0.0.1",
        port=config["port"],
        user=config["user"],
        key_file=Path(config["key"]),
        slots=tuple(config["slots"]),
        known_hosts=Path(config["known_hosts"]),
    )
    host = SshEngineHost(
        config["command"],
        boxes=[box],
        ports=range(*config["ports"]),
        ready_timeout=60.0,
        state_dir=Path(config["state_dir"]),
        remote_dir=config["remote_dir"],
        poll=0.1,
    )
    for hotkey in config["hotkeys"]:
        deployment = host.deploy(DeploymentSpec(hotkey, f"m-{hotkey}", "r1", "pre_challenger"))
        print(json.dumps({"hotkey": hotkey, "id": deployment.id}), flush=True)
    print("deployed", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
