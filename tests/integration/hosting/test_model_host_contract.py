"""Every `ModelHost` adapter behaves alike where the port says so: a deploy gives a ready
deployment whose base URL lists the served model, health follows it, teardown ends it (twice is
no error), capacity counts what is held, a fresh host object adopts what the last one left, and
preflight reports without raising.

Each adapter runs against a real part: `LocalEngineHost` and `SshEngineHost` (through a real
sshd on loopback) start throne's own miner server as the engine; `ChutesEndpoints` asks a
loopback imitation of the Chutes API. Chutes hosts nothing itself, so where the port leaves it
room it differs, and the tests say so: its teardown leaves the miner's chute serving, it holds
no slot, and it has nothing to recover.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.engines import MINER_ENGINE, engines_left, port_span
from tests.support.fake_chutes import Chute, FakeChutes
from tests.support.ports import LOOPBACK, refusing_port
from tests.support.sshd import Sshd, running_sshd
from throne.adapters.hosting.chutes import ChutesEndpoints
from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.adapters.hosting.ssh_engine import SshBox, SshEngineHost
from throne.ports.model_host import DeployFailed, Deployment, DeploymentSpec, ModelHost, Probe

MODEL = "miner/affine-contract"
REVISION = "c" * 40
SPEC = DeploymentSpec("5HotkeyContract", MODEL, REVISION, "challenger", {"chute_id": "chute-1"})


@dataclass
class Subject:
    """One adapter under the contract: ``make`` builds a new host object on the same state (a
    restarted daemon's), ``broken`` one whose engine or far side cannot be reached."""

    make: Callable[[], ModelHost]
    broken: Callable[[], ModelHost]
    #: whether the host runs what it deploys (holds a slot, ends it at teardown, recovers it)
    runs_engines: bool
    #: where the host's engines write their logs, to find any left running
    log_dir: Path | None = None


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _local(tmp_path: Path, stack: ExitStack) -> Subject:
    ports = port_span(10)

    def make(command: str = MINER_ENGINE) -> ModelHost:
        return LocalEngineHost(
            command,
            slots=("", ""),
            ports=ports,
            ready_timeout=60.0,
            state_dir=tmp_path / "state",
            log_dir=tmp_path / "logs",
            poll=0.1,
        )

    return Subject(make, lambda: make("/nonexistent/engine --port {port}"), True, tmp_path / "logs")


def _ssh(tmp_path: Path, stack: ExitStack, sshd: Sshd) -> Subject:
    ports = port_span(10)
    engine = MINER_ENGINE.replace("{host}", LOOPBACK)

    def make(port: int = sshd.port) -> ModelHost:
        box = SshBox(
            "box",
            LOOPBACK,
            port,
            user=sshd.user,
            key_file=sshd.key,
            slots=("0", "1"),
            known_hosts=sshd.known_hosts,
        )
        return SshEngineHost(
            engine,
            boxes=[box],
            ports=ports,
            ready_timeout=60.0,
            state_dir=tmp_path / "state",
            remote_dir=str(tmp_path / "remote"),
            connect_timeout=5.0,
            poll=0.1,
        )

    refusing = stack.enter_context(refusing_port())
    return Subject(make, lambda: make(refusing), True)


def _chutes(tmp_path: Path, stack: ExitStack) -> Subject:
    chutes = stack.enter_context(FakeChutes())
    chutes.add(Chute("chute-1", MODEL, "miner-affine-contract", revision=REVISION))
    refusing = stack.enter_context(refusing_port())

    def make(api: str = chutes.url) -> ModelHost:
        return ChutesEndpoints(
            api, api_key=chutes.api_key, url_template=chutes.url_template, timeout=5.0
        )

    return Subject(make, lambda: make(f"http://{LOOPBACK}:{refusing}"), False)


@pytest.fixture(params=["local", "ssh", "chutes"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    with ExitStack() as stack:
        if request.param == "local":
            made = _local(tmp_path, stack)
        elif request.param == "ssh":
            made = _ssh(tmp_path, stack, request.getfixturevalue("sshd"))
        else:
            made = _chutes(tmp_path, stack)
        yield made
        # Whatever a test left deployed ends here, through a host on the same state.
        cleaner = made.make()
        for deployment in cleaner.recover():
            cleaner.teardown(deployment)
        cleaner.close()
        if made.log_dir is not None:
            assert engines_left(made.log_dir) == []


@pytest.fixture
def host(subject: Subject) -> Iterator[ModelHost]:
    made = subject.make()
    yield made
    made.close()


def listed_models(deployment: Deployment) -> list[str]:
    """The ids ``GET {base_url}/models`` lists, as an OpenAI client would ask."""
    request = urllib.request.Request(f"{deployment.base_url}/models")
    if deployment.api_key:
        request.add_header("Authorization", f"Bearer {deployment.api_key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as answer:
        return [entry["id"] for entry in json.load(answer)["data"]]


def test_a_deploy_gives_a_ready_deployment_of_the_spec_that_lists_its_model(
    host: ModelHost,
) -> None:
    deployment = host.deploy(SPEC)
    assert (deployment.hotkey, deployment.model, deployment.revision, deployment.role) == (
        SPEC.hotkey,
        SPEC.model,
        SPEC.revision,
        SPEC.role,
    )
    assert deployment.id
    assert deployment.ready_at >= deployment.started_at
    assert deployment.served_model in listed_models(deployment)
    assert host.health(deployment).ok


def test_teardown_ends_the_deployment_and_twice_is_no_error(
    subject: Subject, host: ModelHost
) -> None:
    deployment = host.deploy(SPEC)
    host.teardown(deployment)
    host.teardown(deployment)
    health = host.health(deployment)
    if subject.runs_engines:
        assert not health.ok and health.reason
    else:  # the miner's chute is the miner's: teardown leaves it serving
        assert health.ok


def test_capacity_counts_what_is_deployed(subject: Subject, host: ModelHost) -> None:
    before = host.capacity()
    assert 0 <= before.free <= before.total
    deployment = host.deploy(SPEC)
    held = 1 if subject.runs_engines else 0
    assert host.capacity() == type(before)(before.total, before.free - held)
    host.teardown(deployment)
    assert host.capacity() == before


def test_a_fresh_host_adopts_a_live_deployment_and_can_end_it(
    subject: Subject, host: ModelHost
) -> None:
    deployment = host.deploy(SPEC)
    host.close()  # the daemon stops; its deployments go on serving
    restarted = subject.make()
    try:
        adopted = restarted.recover()
        if not subject.runs_engines:
            assert adopted == []  # nothing of its own to find again
            return
        assert [(d.id, d.base_url, d.served_model, d.hotkey) for d in adopted] == [
            (deployment.id, deployment.base_url, deployment.served_model, deployment.hotkey)
        ]
        assert restarted.health(adopted[0]).ok
        assert restarted.capacity().free == restarted.capacity().total - 1
        restarted.teardown(adopted[0])
        assert not restarted.health(adopted[0]).ok
        assert restarted.recover() == []
    finally:
        restarted.close()


def test_preflight_reports_probes_and_all_pass_when_the_host_can_deploy(host: ModelHost) -> None:
    probes = host.preflight()
    assert probes and all(isinstance(p, Probe) for p in probes)
    assert all(p.ok for p in probes), probes


def test_a_host_that_cannot_deploy_says_so_in_preflight_and_in_a_named_reason(
    subject: Subject,
) -> None:
    broken = subject.broken()
    try:
        probes = broken.preflight()
        assert probes and all(isinstance(p, Probe) for p in probes)
        assert not all(p.ok for p in probes), probes
        before = broken.capacity()
        with pytest.raises(DeployFailed) as failed:
            broken.deploy(SPEC)
        assert failed.value.reason
        assert broken.capacity() == before, "a failed deploy holds nothing"
        assert broken.recover() == []
    finally:
        broken.close()
