"""The real engine path: a tiny Llama made offline is served by ``transformers serve`` on the
CPU through `LocalEngineHost`, answers throne's own inference client with usage, and leaves
no process behind when torn down. Needs the ``engine`` extra, which `make test` installs: CI
never skips it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.engines import group_members, port_span
from tests.support.tiny_model import transformers_cli, write_tiny_model
from throne.adapters.hosting.engines import TRANSFORMERS
from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.adapters.inference import AiohttpChatCompletions
from throne.ports.chat_completions import ChatRequest, Completion, Result
from throne.ports.model_endpoints import Endpoint
from throne.ports.model_host import DeploymentSpec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli() -> str:
    return transformers_cli()


def test_transformers_serve_serves_a_tiny_model_to_throne_s_client(
    tmp_path: Path, cli: str
) -> None:
    model_dir = write_tiny_model(tmp_path / "hub" / "org--affine-tiny")
    fetched: list[tuple[str, str]] = []

    def model_files(model: str, revision: str) -> Path:
        fetched.append((model, revision))
        return model_dir

    host = LocalEngineHost(
        TRANSFORMERS.command.replace("transformers", cli, 1),
        served_model=TRANSFORMERS.served_model,
        ports=port_span(20),
        ready_timeout=240.0,
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        environ={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")},
        model_files=model_files,
        poll=0.2,
    )
    spec = DeploymentSpec("5HotkeyTiny", "org/affine-tiny", "d" * 40, "champion")
    deployment = host.deploy(spec)
    try:
        assert fetched == [("org/affine-tiny", "d" * 40)]
        assert deployment.served_model == str(model_dir)  # transformers serve lists the path
        assert host.health(deployment).ok
        pid = int(json.loads((tmp_path / "state" / f"{deployment.id}.json").read_text())["pid"])

        async def ask() -> Result:
            async with AiohttpChatCompletions() as client:
                endpoint = Endpoint(deployment.base_url, deployment.served_model)
                request = ChatRequest.single(
                    endpoint.model, "What is 2 + 2?", temperature=0.0, max_tokens=8
                )
                return await client.complete(endpoint, request)

        result = asyncio.run(ask())
        assert isinstance(result, Completion), result
        assert result.usage is not None
        assert result.usage.prompt_tokens > 0
        assert 0 < result.usage.completion_tokens <= 8
    finally:
        host.teardown(deployment)
        host.close()
    assert group_members(pid) == []
    assert list((tmp_path / "state").glob("*.json")) == []
