"""`ChutesEndpoints` against a loopback imitation of the Chutes API and of a chute's own API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.support.fake_chutes import Chute, FakeChutes
from tests.support.ports import refusing_port
from throne.adapters.hosting.chutes import UNBOUNDED, ChutesEndpoints
from throne.adapters.inference.client import AiohttpChatCompletions
from throne.app import open_model_host
from throne.daemon.settings import settings_from_dict
from throne.ports.chat_completions import ChatRequest, Completion, Result
from throne.ports.model_endpoints import Endpoint
from throne.ports.model_host import Capacity, DeployFailed, Deployment, DeploymentSpec, Health

MODEL = "miner/affine-7b"
REVISION = "a" * 40


def spec(chute_id: object = "c-1", model: str = MODEL, revision: str = REVISION) -> DeploymentSpec:
    extra = {} if chute_id is None else {"chute_id": chute_id}
    return DeploymentSpec("5Hot", model, revision, "challenger", extra)


@pytest.fixture
def chutes() -> Iterator[FakeChutes]:
    with FakeChutes() as fake:
        fake.add(Chute("c-1", MODEL, "miner-affine-7b", revision=REVISION))
        yield fake


@pytest.fixture
def host(chutes: FakeChutes) -> Iterator[ChutesEndpoints]:
    endpoints = ChutesEndpoints(
        chutes.url, api_key=chutes.api_key, url_template=chutes.url_template, timeout=5.0
    )
    yield endpoints
    endpoints.close()


def chat(deployment: Deployment) -> Result:
    async def go() -> Result:
        async with AiohttpChatCompletions() as client:
            endpoint = Endpoint(deployment.base_url, deployment.served_model, deployment.api_key)
            return await client.complete(endpoint, ChatRequest.single(endpoint.model, "hi"))

    return asyncio.run(go())


def reason(host: ChutesEndpoints, deployment_spec: DeploymentSpec) -> str:
    with pytest.raises(DeployFailed) as failed:
        host.deploy(deployment_spec)
    return failed.value.reason


def test_a_hot_chute_of_the_committed_model_resolves_to_its_url_and_answers(
    chutes: FakeChutes, host: ChutesEndpoints
) -> None:
    deployment = host.deploy(spec())
    assert deployment.base_url == f"{chutes.url}/miner-affine-7b/v1"
    assert (deployment.id, deployment.served_model) == ("c-1", MODEL)
    assert deployment.api_key == chutes.api_key
    result = chat(deployment)
    assert isinstance(result, Completion) and result.text == "hello from miner-affine-7b"
    assert set(chutes.seen) == {f"Bearer {chutes.api_key}"}
    assert host.health(deployment) == Health(True)


@pytest.mark.parametrize("served", [None, ""])
def test_a_chute_built_without_a_revision_serves_any_committed_one(
    chutes: FakeChutes, host: ChutesEndpoints, served: str | None
) -> None:
    chutes.add(Chute("c-2", MODEL, "plain", revision=served))
    assert host.deploy(spec("c-2")).base_url.endswith("/plain/v1")


@pytest.mark.parametrize("chute_id", [None, "", "  ", 7])
def test_a_commitment_without_a_chute_id_fails_as_no_chute_id(
    host: ChutesEndpoints, chute_id: object
) -> None:
    assert reason(host, spec(chute_id)) == "no_chute_id"


def test_a_chute_the_api_does_not_know_fails_as_chute_not_found(host: ChutesEndpoints) -> None:
    assert reason(host, spec("nope")) == "chute_not_found"
    assert reason(host, spec("../ping")) == "chute_not_found"


def test_a_cold_chute_fails_as_chute_not_hot(chutes: FakeChutes, host: ChutesEndpoints) -> None:
    chutes.chutes["c-1"].hot = False
    assert reason(host, spec()) == "chute_not_hot"


def test_a_chute_of_another_model_fails_as_chute_model_mismatch(host: ChutesEndpoints) -> None:
    assert reason(host, spec(model="miner/affine-copy")) == "chute_model_mismatch"


def test_a_chute_at_another_revision_fails_as_chute_revision_mismatch(
    host: ChutesEndpoints,
) -> None:
    assert reason(host, spec(revision="b" * 40)) == "chute_revision_mismatch"


@pytest.mark.parametrize(
    "fault",
    [
        (503, b'{"detail": "busy"}'),
        (500, b""),
        (200, b"{not json"),
        (200, b"[" * 5000),
        (200, b'["a list"]'),
        (200, b'{"pad": "' + b"x" * (2 << 20) + b'"}'),
    ],
)
def test_an_api_that_cannot_answer_is_chutes_unavailable(
    chutes: FakeChutes, host: ChutesEndpoints, fault: tuple[int, bytes]
) -> None:
    chutes.fault = fault
    assert reason(host, spec()) == "chutes_unavailable"


def test_a_refused_key_is_chutes_unavailable_not_the_miners_fault(chutes: FakeChutes) -> None:
    wrong = ChutesEndpoints(chutes.url, api_key="cpk_wrong", url_template=chutes.url_template)
    try:
        with pytest.raises(DeployFailed) as failed:
            wrong.deploy(spec())
        assert failed.value.reason == "chutes_unavailable" and "401" in failed.value.detail
    finally:
        wrong.close()


def test_a_slow_or_absent_api_is_chutes_unavailable(chutes: FakeChutes) -> None:
    chutes.delay = 5.0
    slow = ChutesEndpoints(chutes.url, api_key=chutes.api_key, timeout=0.2)
    with refusing_port() as port:
        absent = ChutesEndpoints(f"http://127.0.0.1:{port}", api_key="k")
        try:
            assert reason(slow, spec()) == "chutes_unavailable"
            assert reason(absent, spec()) == "chutes_unavailable"
            assert not next(p for p in absent.preflight() if p.name == "chutes api").ok
        finally:
            slow.close()
            absent.close()


def test_health_rereads_the_chute(chutes: FakeChutes, host: ChutesEndpoints) -> None:
    deployment = host.deploy(spec())
    chutes.chutes["c-1"].hot = False
    assert host.health(deployment) == Health(False, "chute_not_hot")
    del chutes.chutes["c-1"]
    assert host.health(deployment) == Health(False, "chute_not_found")
    chutes.fault = (502, b"")
    assert host.health(deployment) == Health(False, "chutes_unavailable")


def test_nothing_is_hosted_so_teardown_recover_and_capacity_are_trivial(
    chutes: FakeChutes, host: ChutesEndpoints
) -> None:
    deployment = host.deploy(spec())
    host.teardown(deployment)
    assert host.health(deployment).ok  # the miner's chute stays up
    assert host.recover() == []
    assert host.capacity() == Capacity(UNBOUNDED, UNBOUNDED)


def test_preflight_says_the_api_answers_and_whether_a_key_is_set(chutes: FakeChutes) -> None:
    keyless = ChutesEndpoints(chutes.url, api_key=None)
    try:
        probes = {p.name: p for p in keyless.preflight()}
    finally:
        keyless.close()
    assert probes["chutes api"].ok and "200" in probes["chutes api"].detail
    assert not probes["chutes key"].ok


def test_hosting_chutes_in_the_settings_builds_it_with_the_key_its_variable_holds(
    chutes: FakeChutes,
) -> None:
    table = {
        "host": "chutes",
        "chutes": {"api": chutes.url, "url_template": chutes.url_template, "key_env": "MY_KEY"},
    }
    settings = settings_from_dict({"hosting": table}, {"SAT": (0, 1000)})
    keyed = open_model_host(settings, {"MY_KEY": chutes.api_key, "CHUTES_API_KEY": "other"})
    assert keyed is not None and isinstance(keyed.host, ChutesEndpoints)
    try:
        probes = keyed.host.preflight()
        assert [(p.name, p.ok) for p in probes] == [("chutes key", True), ("chutes api", True)]
        assert all(chutes.api_key not in p.detail for p in probes), "the key is never shown"
        assert keyed.host.deploy(spec()).api_key == chutes.api_key
        assert chutes.seen[-1] == f"Bearer {chutes.api_key}"
    finally:
        keyed.host.close()
    shown = str(settings.to_dict())
    assert "MY_KEY" in shown and chutes.api_key not in shown
    keyless = open_model_host(settings, {"CHUTES_API_KEY": chutes.api_key})
    assert keyless is not None
    try:
        assert keyless.host.preflight()[0].ok is False  # only the named variable counts
        assert reason(keyless.host, spec()) == "chutes_unavailable"  # the API's 401
    finally:
        keyless.host.close()
