"""The daemon on the Chutes path, as `[hosting] host = "chutes"` composes it: each miner's
commitment names its own chute, which the daemon looks up on a loopback Chutes and samples
through; a chute that is not hot, or that serves another model, releases its miner under the
bounded rule until it ends unservable. The API key is read from the variable the settings name
and never shown."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.e2e.daemon.cluster import hotkey, make_world, model
from tests.support.contest import read_standings
from tests.support.fake_chutes import Chute, FakeChutes
from throne.adapters.hosting.chutes import ChutesEndpoints
from throne.adapters.storage.deployments import read_deployments
from throne.app import build
from throne.application import ThroneApplication
from throne.daemon.settings import settings_from_dict
from throne.domain.contest.contest import Contest
from throne.envs.registry import environments

DEADLINE_SECONDS = 120.0
KEY_ENV = "THRONE_TEST_CHUTES_KEY"
KEY = "cpk_e2e_secret_4f2a9c"
NAMES = ("ant", "bee", "cat", "dog")


def events(app: ThroneApplication) -> list[object]:
    return list(app.events.get(app.contest_id))


def test_a_chutes_daemon_battles_the_hot_chutes_and_releases_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    chutes = FakeChutes(api_key=KEY)
    for name in ("ant", "bee"):
        chutes.add(Chute(f"chute-{name}", model(name), slug=name, revision="r1"))
    chutes.add(Chute("chute-cat", model("cat"), slug="cat", hot=False))
    chutes.add(Chute("chute-dog", "someone/else", slug="dog"))
    extras = {n: {"chute_id": f"chute-{n}"} for n in NAMES}
    monkeypatch.setenv(KEY_ENV, KEY)
    with chutes:
        # The gateway's routes point nowhere: every answer comes from a miner's chute.
        world = make_world(tmp_path, "http://127.0.0.1:9/v1", bytes(32), extras=extras)
        raw = world.settings_dict()
        raw["contest"]["max_releases"] = 1
        raw["hosting"] = {
            "host": "chutes",
            "pre_deploy": 1,
            "health_every": 1.0,
            "chutes": {"api": chutes.url, "url_template": chutes.url_template, "key_env": KEY_ENV},
        }
        envs = environments()
        settings = settings_from_dict(raw, {n: e.id_range for n, e in envs.items()})
        services = build(settings, pool_secret=bytes(32))
        assert services.hosting is not None
        hosting = services.hosting
        assert isinstance(hosting.host, ChutesEndpoints)

        def settled() -> bool:
            """The battle of the hot chute decided, and both others unservable."""
            with world.app() as app:
                s = read_standings(app)
            reasons = {m["hotkey"]: m["terminated_reason"] for m in s["terminated"]}
            battled = reasons.get(hotkey("bee"), "unservable") != "unservable"
            return battled and all(reasons.get(hotkey(n)) == "unservable" for n in ("cat", "dog"))

        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(services.daemon.run(stop))
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline and not task.done() and not settled():
                await asyncio.sleep(0.2)
            stop.set()
            await task
            await services.client.aclose()

        try:
            asyncio.run(run())
            engine = services.db.create_engine()
            table = read_deployments(engine)
            engine.dispose()
            shown = hosting.deployments()
        finally:
            services.close_sync()
        seen = list(chutes.seen)

    with world.app() as app:
        s = read_standings(app)
        log = events(app)
    assert settled(), (s, shown)
    started = [e.hotkey for e in log if isinstance(e, Contest.BattleStarted)]
    assert started == [hotkey("bee")], "only the hot, matching chute battles"
    released = {(e.hotkey, e.reason) for e in log if isinstance(e, Contest.ChallengerReleased)}
    assert released == {
        (hotkey("cat"), "deploy_failed:chute_not_hot"),
        (hotkey("dog"), "deploy_failed:chute_model_mismatch"),
    }
    assert s["champion"]["hotkey"] == hotkey("ant")
    # The chute answered every task (its answers score nothing): the champion keeps the throne.
    lost = [
        e.reason for e in log if isinstance(e, Contest.Terminated) and e.hotkey == hotkey("bee")
    ]
    assert len(lost) == 1 and lost[0].startswith("lost_to_champion:"), lost
    # The champion is served by its chute: the deployment's id is the committed chute_id.
    assert {(r["hotkey"], r["deployment_id"]) for r in table} == {(hotkey("ant"), "chute-ant")}
    assert {d["hotkey"] for d in shown} == {hotkey("ant"), hotkey("bee")}
    # Every lookup and every completion carried the key; the key was never shown.
    assert seen and set(seen) == {f"Bearer {KEY}"}
    out, err = capfd.readouterr()
    assert KEY not in out + err
    assert KEY not in json.dumps([table, shown], default=str)
