"""`LocalEngineHost` with real engine processes: the local miner server as the engine (fast,
OpenAI-compatible), and small scripts that fail the ways engines do."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engines import (
    MINER_ENGINE,
    PYTHON,
    engines_left,
    group_members,
    port_span,
    python_engine,
    running,
    wait_until,
)
from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.adapters.inference import AiohttpChatCompletions
from throne.ports.chat_completions import ChatRequest, Completion
from throne.ports.model_endpoints import Endpoint
from throne.ports.model_host import DeployFailed, Deployment, DeploymentSpec

SPEC = DeploymentSpec("5HotkeyAlice", "org/affine-alice", "a" * 40, "champion")
SPEC_BOB = DeploymentSpec("5HotkeyBob", "org/affine-bob", "b" * 40, "challenger")


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[LocalEngineHost]]:
    """Hosts made by a test; whatever they still run is torn down after it."""
    made: list[LocalEngineHost] = []
    yield made
    for host in made:
        for deployment in host.deployments():
            host.teardown(deployment)
        host.close()
    assert engines_left(tmp_path / "logs") == []


def make_host(
    hosts: list[LocalEngineHost], tmp_path: Path, command: str = MINER_ENGINE, **options: object
) -> LocalEngineHost:
    options.setdefault("ports", port_span(20))
    options.setdefault("ready_timeout", 60.0)
    options.setdefault("poll", 0.05)
    options.setdefault("stop_grace", 5.0)
    host = LocalEngineHost(
        command,
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        **options,  # type: ignore[arg-type]
    )
    hosts.append(host)
    return host


def state_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state").glob("*.json"))


def engine_pid(deployment: Deployment, tmp_path: Path) -> int:
    return int(json.loads((tmp_path / "state" / f"{deployment.id}.json").read_text())["pid"])


def pids_in_log(path: Path) -> list[int]:
    return [int(p) for p in re.findall(r"pid=(\d+)", path.read_text())]


def complete(deployment: Deployment) -> Completion:
    async def go() -> Completion:
        async with AiohttpChatCompletions() as client:
            endpoint = Endpoint(deployment.base_url, deployment.served_model, deployment.api_key)
            result = await client.complete(endpoint, ChatRequest.single(endpoint.model, "Hi"))
        assert isinstance(result, Completion), result
        return result

    return asyncio.run(go())


def test_a_deployed_engine_serves_the_model_until_it_is_torn_down(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    host = make_host(hosts, tmp_path)
    deployment = host.deploy(SPEC)

    assert (deployment.model, deployment.revision, deployment.role) == (
        "org/affine-alice",
        "a" * 40,
        "champion",
    )
    assert deployment.served_model == "org/affine-alice"
    assert deployment.base_url.startswith("http://127.0.0.1:")
    assert deployment.ready_at >= deployment.started_at
    assert complete(deployment).usage is not None
    assert host.health(deployment).ok
    assert host.capacity().free == 0
    assert (
        deployment.log is not None
        and "serving org/affine-alice" in Path(deployment.log).read_text()
    )
    pid = engine_pid(deployment, tmp_path)

    host.teardown(deployment)
    assert group_members(pid) == []
    assert state_files(tmp_path) == []
    assert host.capacity().free == 1
    assert host.health(deployment).reason == "not_deployed"
    host.teardown(deployment)  # a second teardown is no error


def test_each_deployment_gets_its_own_slot_and_port_until_none_is_free(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    command = f"sh -c 'echo gpus=$CUDA_VISIBLE_DEVICES count={{gpu_count}}; exec {MINER_ENGINE}'"
    host = make_host(hosts, tmp_path, command, slots=("0,1", "2"))
    first, second = host.deploy(SPEC), host.deploy(SPEC_BOB)

    assert first.base_url != second.base_url
    assert "gpus=0,1 count=2" in Path(first.log or "").read_text()
    assert "gpus=2 count=1" in Path(second.log or "").read_text()
    with pytest.raises(DeployFailed) as failed:
        host.deploy(DeploymentSpec("5Carol", "org/affine-carol", "c" * 40, "pre_challenger"))
    assert failed.value.reason == "no_slot_free"
    assert host.capacity().free == 0

    host.teardown(first)
    assert host.deployments() == [second]
    third = host.deploy(DeploymentSpec("5Carol", "org/affine-carol", "c" * 40, "pre_challenger"))
    assert "gpus=0,1" in Path(third.log or "").read_text()


def test_an_engine_command_that_does_not_exist_is_engine_missing(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    host = make_host(hosts, tmp_path, "no-such-engine-anywhere --port {port}")
    with pytest.raises(DeployFailed) as failed:
        host.deploy(SPEC)
    assert failed.value.reason == "engine_missing"
    assert state_files(tmp_path) == []
    assert host.capacity().free == 1


def test_an_engine_that_exits_at_once_is_named_by_its_exit_code(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    host = make_host(hosts, tmp_path, python_engine("print('bad weights'); raise SystemExit(3)"))
    with pytest.raises(DeployFailed) as failed:
        host.deploy(SPEC)
    assert failed.value.reason == "exited:3"
    assert "bad weights" in failed.value.detail  # the log's tail, for the operator
    assert state_files(tmp_path) == []
    assert host.capacity().free == 1


def test_an_engine_that_never_becomes_ready_is_ended_when_the_timeout_passes(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    code = "import os, time; print('pid=' + str(os.getpid()), flush=True); time.sleep(600)"
    host = make_host(hosts, tmp_path, python_engine(code), ready_timeout=1.5)
    with pytest.raises(DeployFailed) as failed:
        host.deploy(SPEC)
    assert failed.value.reason == "never_ready:1.5s"
    (log,) = (tmp_path / "logs").glob("*.log")
    (pid,) = pids_in_log(log)
    assert not running(pid)
    assert state_files(tmp_path) == []
    assert host.capacity().free == 1


def test_a_taken_port_is_skipped_and_a_range_with_none_free_is_port_taken(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    ports = port_span(2)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[0]))
        squatter.listen()
        host = make_host(hosts, tmp_path, ports=ports, slots=("", ""))
        deployment = host.deploy(SPEC)
        assert deployment.base_url == f"http://127.0.0.1:{ports[1]}/v1"
        with pytest.raises(DeployFailed) as failed:
            host.deploy(SPEC_BOB)
        assert failed.value.reason == "port_taken"
        assert host.capacity().free == 1


def test_an_engine_that_fails_on_a_port_taken_after_the_check_is_port_taken(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    # The engine waits on a pipe before it binds, so the port is taken between the host's
    # check and the engine's own bind, the race a real engine may lose to another process.
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    ports = port_span(1)
    command = f"sh -c 'read go < {gate}; exec {MINER_ENGINE}'"
    host = make_host(hosts, tmp_path, command, ports=ports)
    failure: list[DeployFailed] = []

    def deploy() -> None:
        try:
            host.deploy(SPEC)
        except DeployFailed as exc:
            failure.append(exc)

    deployer = threading.Thread(target=deploy)
    deployer.start()
    assert wait_until(lambda: any(json.loads(p.read_text())["pid"] for p in state_files(tmp_path)))
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", ports[0]))
        thief.listen()
        with open(gate, "w") as pipe:
            pipe.write("go\n")
        deployer.join(timeout=60)
    assert not deployer.is_alive()
    assert [f.reason for f in failure] == ["port_taken"]
    assert state_files(tmp_path) == []


def test_teardown_ends_the_whole_group_even_a_child_that_ignores_sigterm(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    stubborn = tmp_path / "stubborn.py"
    stubborn.write_text(
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('pid=' + str(os.getpid()), flush=True)\n"
        "time.sleep(600)\n"
    )
    command = f"sh -c '{PYTHON} {stubborn} & exec {MINER_ENGINE}'"
    host = make_host(hosts, tmp_path, command, stop_grace=0.5)
    deployment = host.deploy(SPEC)
    log = Path(deployment.log or "")
    assert wait_until(lambda: len(pids_in_log(log)) == 1)
    (helper,) = pids_in_log(log)
    engine = engine_pid(deployment, tmp_path)
    assert running(helper) and running(engine)

    host.teardown(deployment)
    assert not running(helper)
    assert group_members(engine) == []


def test_health_names_an_engine_that_exited_by_its_code(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    host = make_host(hosts, tmp_path)
    deployment = host.deploy(SPEC)
    os.kill(engine_pid(deployment, tmp_path), signal.SIGKILL)
    # While it dies it may first stop answering; once it is gone, health names its exit.
    assert wait_until(lambda: host.health(deployment).reason.startswith("exited:"))
    assert host.health(deployment).reason == "exited:-9"
    host.teardown(deployment)
    assert host.capacity().free == 1


def test_health_notices_an_engine_that_stops_answering(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    host = make_host(hosts, tmp_path)
    deployment = host.deploy(SPEC)
    pid = engine_pid(deployment, tmp_path)
    os.kill(pid, signal.SIGSTOP)
    try:
        health = host.health(deployment)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert not health.ok
    assert health.reason == "not_answering:timeout"
    assert wait_until(lambda: host.health(deployment).ok)


def test_the_model_cache_gives_the_folder_and_its_failures_become_the_reason(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    folder = tmp_path / "models" / "alice"

    class FetchFailed(Exception):
        def __init__(self, reason: str) -> None:
            super().__init__(f"{reason}: the hub said no")
            self.reason = reason

    fetched: list[tuple[str, str]] = []

    def fetch(model: str, revision: str) -> Path:
        fetched.append((model, revision))
        if model == "org/affine-bob":
            raise FetchFailed("repo_vanished")
        if model == "org/affine-carol":
            raise OSError(28, "No space left on device")
        return folder

    command = MINER_ENGINE.replace("--name {model}", "--name {model_dir}")
    host = make_host(hosts, tmp_path, command, model_files=fetch, served_model="{model_dir}")
    deployment = host.deploy(SPEC)
    assert deployment.served_model == str(folder)
    assert complete(deployment).usage is not None

    host.teardown(deployment)
    with pytest.raises(DeployFailed) as vanished:
        host.deploy(SPEC_BOB)
    assert vanished.value.reason == "repo_vanished"
    with pytest.raises(DeployFailed) as other:
        host.deploy(DeploymentSpec("5Carol", "org/affine-carol", "c" * 40, "pre_challenger"))
    assert other.value.reason == "model_files_failed"
    assert "No space left" in other.value.detail
    assert fetched == [
        ("org/affine-alice", "a" * 40),
        ("org/affine-bob", "b" * 40),
        ("org/affine-carol", "c" * 40),
    ]
    assert host.capacity().free == 1
    assert state_files(tmp_path) == []


def test_preflight_reports_slots_engine_and_directories(
    hosts: list[LocalEngineHost], tmp_path: Path
) -> None:
    good = {p.name: p for p in make_host(hosts, tmp_path).preflight()}
    assert all(p.ok for p in good.values()), good
    assert good["slots"].detail == "slots free 1 of 1"
    assert good["engine command"].detail.startswith("engine command found: /")

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    bad_host = LocalEngineHost(
        "no-such-engine-anywhere --port {port}", state_dir=blocked / "state", log_dir=tmp_path
    )
    hosts.append(bad_host)
    bad = {p.name: p for p in bad_host.preflight()}
    assert not bad["engine command"].ok
    assert bad["engine command"].detail == "engine command not found: no-such-engine-anywhere"
    assert not bad["state dir"].ok
    assert bad["log dir"].ok
