"""The deployment files: the compose file parses and runs real throne commands, the image's
entrypoint runs throne in a plain venv, and only the signer mounts the wallet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from throne.cli.main import main

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
SERVICES = {"validator", "signer", "postgres", "prometheus", "grafana"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def test_the_compose_file_has_the_services_each_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["validator"]["healthcheck"]["test"])
    assert "/healthz" in " ".join(services["signer"]["healthcheck"]["test"])


def test_only_the_signer_mounts_the_wallet_and_read_only() -> None:
    services = compose()["services"]
    holding = {
        name
        for name, service in services.items()
        for volume in service.get("volumes", [])
        if "wallets" in volume
    }
    assert holding == {"signer"}
    wallet = [v for v in services["signer"]["volumes"] if "wallets" in v]
    assert all(v.endswith(":ro") for v in wallet)
    assert services["signer"]["network_mode"] == "none"


@pytest.mark.parametrize("service", ["validator", "signer"])
def test_every_command_the_compose_file_runs_is_a_throne_command(
    service: str, capsys: pytest.CaptureFixture[str]
) -> None:
    command = compose()["services"][service]["command"]
    # The image's entrypoint is `throne`: the command is throne's arguments.
    words = [w for w in command if not w.startswith("-")]
    with pytest.raises(SystemExit) as exit_:
        main([words[0], "--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    for flag in (w for w in command if w.startswith("--")):
        assert flag in help_text, f"{service}: throne {words[0]} has no {flag}"


def test_the_entrypoint_runs_throne_from_a_plain_venv(tmp_path: Path) -> None:
    # This test's interpreter is a venv with throne installed: its bin on PATH, nothing else.
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    ran = subprocess.run(
        ["sh", str(ENTRYPOINT), "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("throne ")
    missing = tmp_path / "nope.toml"
    ran = subprocess.run(
        ["sh", str(ENTRYPOINT), "run", "--config", str(missing)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert ran.returncode == 2
    assert ran.stderr.startswith(f"throne-entrypoint: cannot read the config {missing}")
    bare = subprocess.run(
        ["sh", str(ENTRYPOINT), "--help"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert bare.returncode == 127 and "no throne command on PATH" in bare.stderr


def test_the_dockerfile_runs_as_a_user_and_enters_by_the_entrypoint() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "\nUSER throne\n" in text
    assert 'ENTRYPOINT ["tini", "--", "throne-entrypoint"]' in text
    assert "COPY deploy/entrypoint.sh /usr/local/bin/throne-entrypoint" in text
    assert os.access(ENTRYPOINT, os.X_OK)
