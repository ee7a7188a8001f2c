"""The whole hosting path with a real engine: two miners' tiny Llamas (different random weights,
so different files and hashes) published on the loopback Hub, fetched by the model cache through
``huggingface_hub``, served by ``transformers serve`` on the CPU through `LocalEngineHost`, and
sampled by a real daemon on the local chain through one whole battle. The models answer noise,
so the scores are zero or near; what is checked is the path: every sample answered by the engine
with its token usage, a decision recorded, the loser torn down, no engine left. Needs the
``engine`` extra, which `make test` installs: CI never skips it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.e2e.daemon.cluster import decisions, hotkey, make_world, model
from tests.support.contest import read_standings
from tests.support.engines import engines_left, port_span
from tests.support.tiny_model import folder_files, transformers_cli, write_tiny_model
from throne.adapters.hosting.engines import TRANSFORMERS
from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.adapters.hub.cache import ModelCache
from throne.app import build
from throne.application import ThroneApplication
from throne.daemon.settings import settings_from_dict
from throne.devhub import FakeHub
from throne.domain.contest.scorecard import Scorecard
from throne.envs.registry import environments

pytestmark = pytest.mark.slow

#: the champion commits first, the challenger after it
MINERS = ("ant", "bee")
#: bounds the wait for engines to load and a battle to end on two busy cores; typically far less
DEADLINE_SECONDS = 300.0
MAX_TOKENS = 8
#: tasks per side that decide the battle (SAT only: its prompts are short)
SAMPLING_COUNT = 2


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as served:
        yield served


def scored(app: ThroneApplication) -> list[Scorecard.SampleScored]:
    """Every sample the log holds, in the order recorded."""
    topic = Scorecard.SampleScored.TOPIC
    notifications = app.recorder.select_notifications(start=1, limit=100_000, topics=[topic])
    events = [app.mapper.to_domain_event(n) for n in notifications]
    return [e for e in events if isinstance(e, Scorecard.SampleScored)]


def _what_went_wrong(logs: list[dict[str, Any]], log_dir: Path) -> dict[str, Any]:
    """The daemon's warnings and errors and the end of each engine's output, for a failure."""
    told = [e for e in logs if e.get("log_level") in ("warning", "error")]
    tails = {p.name: p.read_text(errors="replace")[-1500:] for p in sorted(log_dir.glob("*.log"))}
    return {"daemon": told[-40:], "engines": tails}


def test_a_daemon_samples_two_real_engines_through_a_battle_and_tears_the_loser_down(
    tmp_path: Path, hub: FakeHub
) -> None:
    cli = transformers_cli()
    revisions = {}
    for seed, name in enumerate(MINERS):
        folder = write_tiny_model(tmp_path / "made" / name, seed=seed)
        revisions[name] = hub.publish_files(model(name), folder_files(folder))
    cache = ModelCache(tmp_path / "cache", 10**9, endpoint=hub.url, timeout=30.0)
    log_dir = tmp_path / "engine-logs"
    host = LocalEngineHost(
        TRANSFORMERS.command.replace("transformers", cli, 1),
        slots=("", ""),
        ports=port_span(40),
        served_model=TRANSFORMERS.served_model,
        ready_timeout=240.0,
        state_dir=tmp_path / "engine-state",
        log_dir=log_dir,
        # The engine serves the cache's folder and never asks a hub itself.
        environ={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")},
        model_files=cache.fetch,
        poll=0.2,
    )
    world = make_world(
        tmp_path / "world", "http://127.0.0.1:9/v1", bytes(32), names=MINERS, revisions=revisions
    )
    raw = world.settings_dict()
    raw["envs"] = {"SAT": {"sampling_count": SAMPLING_COUNT}}
    raw["sampler"] |= {"max_tokens": MAX_TOKENS, "request_timeout_seconds": 60.0}
    raw["model_hub"] = {"kind": "huggingface", "endpoint": hub.url}
    raw["hosting"] = {"pre_deploy": 1, "health_every": 2.0}
    envs = environments()
    settings = settings_from_dict(raw, {n: e.id_range for n, e in envs.items()})
    services = build(settings, pool_secret=bytes(32), host=host, environments={"SAT": envs["SAT"]})
    assert services.hosting is not None
    hosting = services.hosting
    champion, challenger = hotkey(MINERS[0]), hotkey(MINERS[1])

    def standings() -> dict[str, Any]:
        with world.app() as app:
            return read_standings(app)

    def settled() -> bool:
        """The battle decided, and the scheduler caught up with it (the loser gone)."""
        s = standings()
        if not s["terminated"]:
            return False
        losers = {m["hotkey"] for m in s["terminated"]}
        return {d.hotkey for d in host.deployments()}.isdisjoint(losers)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(services.daemon.run(stop))
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline and not task.done() and not settled():
            await asyncio.sleep(0.5)
        stop.set()
        await task
        await services.client.aclose()

    try:
        with capture_logs() as logs:
            asyncio.run(run())
        left_deployed = host.deployments()
    finally:
        services.close_sync()
        for deployment in host.deployments():
            host.teardown(deployment)
        host.close()
    assert engines_left(log_dir) == [], "every engine ended with its deployment"

    s = standings()
    shown = hosting.deployments()
    with world.app() as app:
        samples = scored(app)
        decided = decisions(app)
    assert decided, (s, shown)
    assert len(decided) == 1
    kind = decided[0][0]
    winner = challenger if kind == "dethroned" else champion
    loser = champion if kind == "dethroned" else challenger
    assert s["champion"]["hotkey"] == winner
    # Both sides were sampled, every sample answered by the engine with real token usage.
    for side, name in ((champion, "ant"), (challenger, "bee")):
        sampled = [e for e in samples if (e.hotkey, e.revision) == (side, revisions[name])]
        assert len(sampled) >= SAMPLING_COUNT, (side, len(sampled))
    assert all(e.outcome == "ok" for e in samples), (
        [(e.hotkey, e.outcome) for e in samples],
        _what_went_wrong(logs, log_dir),
    )
    assert all(e.prompt_tokens > 0 for e in samples)
    assert all(0 < e.completion_tokens <= MAX_TOKENS for e in samples)
    # The loser was torn down while the daemon ran; the winner was still served at the end.
    assert [d.hotkey for d in left_deployed] == [winner]
    assert {d["hotkey"] for d in shown if d["torn_down"]} == {loser}
    assert {(d["hotkey"], d["revision"]) for d in shown} == {
        (champion, revisions["ant"]),
        (challenger, revisions["bee"]),
    }
    # Each model was fetched from the Hub once, into the cache the engines served it from.
    for name in MINERS:
        assert cache.cached(model(name), revisions[name]) is not None
        assert hub.downloads_of(model(name), "model.safetensors") == 1
