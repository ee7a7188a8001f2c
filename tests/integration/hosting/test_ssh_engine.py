"""`SshEngineHost` against a real sshd on loopback, deploying throne's own miner server (the
`throne miner serve` command) as the engine, the way it deploys SGLang on a GPU box."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import LOOPBACK, free_port, refusing_port
from tests.support.sshd import Sshd, running_sshd
from throne.adapters.hosting.ssh_engine import SshBox, SshEngineHost
from throne.adapters.inference.client import AiohttpChatCompletions
from throne.ports.chat_completions import ChatRequest, Completion
from throne.ports.model_endpoints import Endpoint
from throne.ports.model_host import DeployFailed, Deployment, DeploymentSpec

THRONE = Path(sys.executable).with_name("throne")
MINER = (
    f"{THRONE} miner serve --host 127.0.0.1 --port {{port}} --skill 1 "
    "--name {model} --revision {revision}"
)
ROOT = Path(__file__).resolve().parents[3]
SPEC = DeploymentSpec("5Hotkey", "affine/m1", "r1", "challenger")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def box(sshd: Sshd, **changes: object) -> SshBox:
    fields: dict[str, object] = {
        "name": "box",
        "host": LOOPBACK,
        "port": sshd.port,
        "user": sshd.user,
        "key_file": sshd.key,
        "known_hosts": sshd.known_hosts,
    }
    return SshBox(**(fields | changes))  # type: ignore[arg-type]


def ports() -> range:
    start = free_port()
    return range(start, start + 1)


def make_host(tmp_path: Path, boxes: list[SshBox], **changes: object) -> SshEngineHost:
    options: dict[str, object] = {
        "boxes": boxes,
        "ports": ports(),
        "ready_timeout": 60.0,
        "state_dir": tmp_path / "state",
        "remote_dir": str(tmp_path / "remote"),
        "connect_timeout": 5.0,
        "poll": 0.1,
    }
    options |= changes
    command = str(options.pop("command", MINER))
    return SshEngineHost(command, **options)  # type: ignore[arg-type]


def chat(deployment: Deployment) -> object:
    async def go() -> object:
        async with AiohttpChatCompletions() as client:
            endpoint = Endpoint(deployment.base_url, deployment.served_model)
            return await client.complete(endpoint, ChatRequest.single(endpoint.model, "hello"))

    return asyncio.run(go())


def group_of(remote: Path, deployment_id: str) -> int:
    return int(json.loads((remote / f"{deployment_id}.json").read_text())["pgid"])


def live_members(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that still run (zombies nobody reaped do not)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def refuses(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=2).close()
    except OSError:
        return True
    return False


def test_a_deployed_engine_answers_a_chat_completion_and_teardown_leaves_no_process(
    sshd: Sshd, tmp_path: Path
) -> None:
    host = make_host(tmp_path, [box(sshd, slots=("0", "1"))])
    try:
        deployment = host.deploy(SPEC)
        port = int(deployment.base_url.rsplit(":", 1)[1].split("/")[0])
        assert deployment.base_url == f"http://127.0.0.1:{port}/v1"
        assert (deployment.served_model, deployment.role) == ("affine/m1", "challenger")
        assert deployment.ready_at >= deployment.started_at
        assert host.health(deployment).ok
        assert host.capacity().free == 1
        result = chat(deployment)
        assert isinstance(result, Completion), result
        log = tmp_path / "remote" / f"{deployment.id}.log"
        assert "serving affine/m1" in log.read_text()
        pgid = group_of(tmp_path / "remote", deployment.id)
        assert live_members(pgid)

        host.teardown(deployment)

        assert live_members(pgid) == []
        assert refuses(port)
        assert not host.health(deployment).ok
        assert host.capacity().free == 2
        assert list((tmp_path / "state").iterdir()) == []
        assert not (tmp_path / "remote" / f"{deployment.id}.json").exists()
        host.teardown(deployment)  # already gone: no error
    finally:
        host.close()


def test_the_engine_gets_its_slot_as_cuda_visible_devices(sshd: Sshd, tmp_path: Path) -> None:
    command = 'sh -c \'echo gpus=$CUDA_VISIBLE_DEVICES; exec "$0" "$@"\' ' + MINER
    host = make_host(tmp_path, [box(sshd, slots=("2,3",))], command=command)
    try:
        deployment = host.deploy(SPEC)
        assert "gpus=2,3" in (tmp_path / "remote" / f"{deployment.id}.log").read_text()
        host.teardown(deployment)
    finally:
        host.close()


def deploy_fails(host: SshEngineHost) -> DeployFailed:
    try:
        with pytest.raises(DeployFailed) as failed:
            host.deploy(SPEC)
        return failed.value
    finally:
        host.close()


def test_an_unreachable_box_fails_as_ssh_unreachable(tmp_path: Path, sshd: Sshd) -> None:
    with refusing_port() as closed:
        host = make_host(tmp_path, [box(sshd, port=closed)])
        assert deploy_fails(host).reason == "ssh_unreachable"
    assert host.capacity().free == 1
    assert list((tmp_path / "state").iterdir()) == []


def test_a_key_the_box_refuses_fails_as_ssh_key_refused(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(tmp_path, [box(sshd, key_file=sshd.stranger_key)])
    assert deploy_fails(host).reason == "ssh_key_refused"
    assert list((tmp_path / "state").iterdir()) == []


def test_a_box_whose_host_key_is_not_the_known_one_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    key = Path(f"{sshd.stranger_key}.pub").read_text().split()
    other.write_text(f"[{LOOPBACK}]:{sshd.port} {key[0]} {key[1]}\n")
    host = make_host(tmp_path, [box(sshd, known_hosts=other)])
    assert deploy_fails(host).reason == "ssh_host_unknown"


def test_an_engine_command_missing_on_the_box_fails_as_engine_missing(
    sshd: Sshd, tmp_path: Path
) -> None:
    host = make_host(tmp_path, [box(sshd)], command="/nonexistent/sglang --port {port}")
    failed = deploy_fails(host)
    assert failed.reason == "engine_missing" and "/nonexistent/sglang" in failed.detail
    assert list((tmp_path / "state").iterdir()) == []


def test_an_engine_that_exits_at_once_fails_with_its_exit_code(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(tmp_path, [box(sshd)], command="sh -c 'echo no GPU; exit 3'")
    assert deploy_fails(host).reason == "exited:3"
    assert list((tmp_path / "state").iterdir()) == []
    assert [p.name for p in (tmp_path / "remote").glob("*.json")] == []
    assert host.capacity().free == 1


def test_an_engine_that_never_lists_its_model_fails_as_never_ready_and_is_ended(
    sshd: Sshd, tmp_path: Path
) -> None:
    marker = f"throne-test-{os.getpid()}-{time.monotonic_ns()}"
    host = make_host(
        tmp_path, [box(sshd)], command=f"sh -c 'exec sleep 300' {marker}", ready_timeout=1.0
    )
    assert deploy_fails(host).reason == "never_ready:1s"
    assert list((tmp_path / "state").iterdir()) == []
    assert [p.name for p in (tmp_path / "remote").glob("*.json")] == []


def test_a_port_something_else_listens_on_is_not_used(sshd: Sshd, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind((LOOPBACK, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        host = make_host(tmp_path, [box(sshd)], ports=range(port, port + 1))
        assert deploy_fails(host).reason == "port_taken"


def test_a_deploy_beyond_the_slots_fails_as_no_slot_free(sshd: Sshd, tmp_path: Path) -> None:
    start = free_port()
    host = make_host(tmp_path, [box(sshd)], ports=range(start, start + 2))
    try:
        first = host.deploy(SPEC)
        with pytest.raises(DeployFailed) as failed:
            host.deploy(DeploymentSpec("5Other", "affine/m2", "r1", "pre_challenger"))
        assert failed.value.reason == "no_slot_free"
        assert host.capacity().free == 0
        host.teardown(first)
        assert host.capacity().free == 1
    finally:
        host.close()


def test_preflight_finds_the_engine_and_names_a_box_out_of_reach(
    sshd: Sshd, tmp_path: Path
) -> None:
    good = make_host(tmp_path, [box(sshd)])
    probes = {p.name: p for p in good.preflight()}
    good.close()
    assert probes["ssh box"].ok and probes["engine on box"].ok
    assert str(THRONE) in probes["engine on box"].detail
    assert probes["slots"].detail == "slots free 1 of 1"

    missing = make_host(tmp_path, [box(sshd)], command="/nonexistent/vllm serve")
    probes = {p.name: p for p in missing.preflight()}
    missing.close()
    assert probes["ssh box"].ok and not probes["engine on box"].ok

    refused = make_host(tmp_path, [box(sshd, key_file=sshd.stranger_key)])
    probes = {p.name: p for p in refused.preflight()}
    refused.close()
    assert not probes["ssh box"].ok and "ssh_key_refused" in probes["ssh box"].detail
    assert "engine on box" not in probes


def test_recover_after_a_killed_owner_adopts_live_engines_and_ends_the_rest(
    sshd: Sshd, tmp_path: Path
) -> None:
    start = free_port()
    config = {
        "port": sshd.port,
        "user": sshd.user,
        "key": str(sshd.key),
        "known_hosts": str(sshd.known_hosts),
        "slots": ["0", "1", "2"],
        "command": MINER,
        "ports": [start, start + 3],
        "state_dir": str(tmp_path / "state"),
        "remote_dir": str(tmp_path / "remote"),
        "hotkeys": ["alive", "dead", "orphan"],
    }
    owner = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ssh_owner", json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    ids: dict[str, str] = {}
    try:
        assert owner.stdout is not None
        for line in owner.stdout:
            if line.strip() == "deployed":
                break
            entry = json.loads(line)
            ids[entry["hotkey"]] = entry["id"]
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=30)
    assert set(ids) == {"alive", "dead", "orphan"}
    remote = tmp_path / "remote"
    groups = {hotkey: group_of(remote, i) for hotkey, i in ids.items()}
    os.killpg(groups["dead"], signal.SIGKILL)
    (tmp_path / "state" / f"{ids['orphan']}.json").unlink()  # a record no state names

    host = make_host(tmp_path, [box(sshd, slots=("0", "1", "2"))], ports=range(start, start + 3))
    try:
        adopted = host.recover()
        assert [(d.id, d.hotkey, d.model) for d in adopted] == [(ids["alive"], "alive", "m-alive")]
        assert isinstance(chat(adopted[0]), Completion)
        assert live_members(groups["orphan"]) == []
        assert sorted(p.stem for p in (tmp_path / "state").glob("*.json")) == [ids["alive"]]
        assert sorted(p.stem for p in remote.glob("*.json")) == [ids["alive"]]
        assert host.capacity().free == 2
        # The adopted one is ours again: a new deploy takes another slot and port.
        second = host.deploy(SPEC)
        assert second.base_url != adopted[0].base_url
        host.teardown(second)
        host.teardown(adopted[0])
        assert live_members(groups["alive"]) == []
    finally:
        host.close()


def test_health_names_an_engine_that_died_after_it_was_ready(sshd: Sshd, tmp_path: Path) -> None:
    host = make_host(tmp_path, [box(sshd)])
    try:
        deployment = host.deploy(SPEC)
        os.killpg(group_of(tmp_path / "remote", deployment.id), signal.SIGKILL)
        assert host.health(deployment).reason == "exited:killed"
        host.teardown(deployment)
        assert host.capacity().free == 1
    finally:
        host.close()
