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

import contextlib
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.engines import (
    MINER_ENGINE,
    engines_left,
    group_members,
    port_span,
    python_engine,
    running,
    wait_until,
)
from tests.support.fake_chutes import Chute, FakeChutes
from tests.support.ports import LOOPBACK, refusing_port
from tests.support.sshd import Sshd, running_sshd
from throne.adapters.hosting.chutes import ChutesEndpoints
from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.adapters.hosting.ssh_engine import SshBox, SshEngineHost
from throne.ports.model_host import DeployFailed, Deployment, DeploymentSpec, ModelHost, Probe

MODEL = "miner/affine-contract"
REVISION = "c" * 40
#: an engine that starts and never serves: its deploy waits until the ready timeout
NEVER_READY = python_engine("import time; time.sleep(600)") + " --port {port}"
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
    #: a host whose engine starts and never answers (a deploy stays in flight); engine hosts
    loading: Callable[[], ModelHost] | None = None
    #: the processes of the engines running now; engine hosts
    engines: Callable[[], list[int]] | None = None


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

    return Subject(
        make,
        lambda: make("/nonexistent/engine --port {port}"),
        True,
        tmp_path / "logs",
        lambda: make(NEVER_READY),
        lambda: engines_left(tmp_path / "logs"),
    )


def _ssh(tmp_path: Path, stack: ExitStack, sshd: Sshd) -> Subject:
    ports = port_span(10)
    engine = MINER_ENGINE.replace("{host}", LOOPBACK)

    def make(port: int = sshd.port, command: str = engine) -> ModelHost:
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
            command,
            boxes=[box],
            ports=ports,
            ready_timeout=60.0,
            state_dir=tmp_path / "state",
            remote_dir=str(tmp_path / "remote"),
            connect_timeout=5.0,
            poll=0.1,
        )

    refusing = stack.enter_context(refusing_port())
    remote = tmp_path / "remote"

    def engines() -> list[int]:
        # The box is this machine: the groups its records name are ours to look at.
        groups = []
        for record in remote.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                groups.append(int(json.loads(record.read_text())["pgid"]))
        return [pid for pgid in groups for pid in group_members(pgid)]

    return Subject(
        make, lambda: make(refusing), True, None, lambda: make(command=NEVER_READY), engines
    )


def _chutes(tmp_path: Path, stack: ExitStack) -> Subject:
    chutes = stack.enter_context(FakeChutes())
    chutes.add(Chute("chute-1", MODEL, "miner-affine-contract", revision=REVISION))
    refusing = stack.enter_context(refusing_port())

    def make(api: str = chutes.url) -> ModelHost:
        return ChutesEndpoints(
            api, api_key=chutes.api_key, url_template=chutes.url_template, timeout=5.0
        )

    return Subject(make, lambda: make(f"http://{LOOPBACK}:{refusing}"), False)


@contextlib.contextmanager
def _subject(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    with ExitStack() as stack:
        if kind == "local":
            made = _local(tmp_path, stack)
        elif kind == "ssh":
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


@pytest.fixture(params=["local", "ssh", "chutes"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    with _subject(request.param, request, tmp_path) as made:
        yield made


@pytest.fixture(params=["local", "ssh"])
def engine_subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    """The hosts that run engines of their own."""
    with _subject(request.param, request, tmp_path) as made:
        yield made


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


def test_a_closed_host_deploys_nothing(host: ModelHost) -> None:
    host.close()
    with pytest.raises(DeployFailed) as failed:
        host.deploy(SPEC)
    assert failed.value.reason == "host_closed"


def test_closing_the_host_ends_a_deploy_in_flight_and_its_engine(engine_subject: Subject) -> None:
    assert engine_subject.loading is not None and engine_subject.engines is not None
    loading, engines = engine_subject.loading(), engine_subject.engines
    failed: list[BaseException] = []

    def deploy() -> None:
        try:
            loading.deploy(SPEC)
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=deploy)
    thread.start()
    started: list[int] = []

    def engine_started() -> bool:
        started.extend(engines())
        return bool(started)

    try:
        assert wait_until(engine_started, timeout=30)
    finally:
        loading.close()
        thread.join(60)
    assert not thread.is_alive()
    assert [type(e) for e in failed] == [DeployFailed]
    assert isinstance(failed[0], DeployFailed) and failed[0].reason == "host_closed"
    assert wait_until(lambda: not any(running(pid) for pid in started), timeout=30)
    assert loading.capacity().free == loading.capacity().total
