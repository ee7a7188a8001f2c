"""The daemon, wired by `build` to the loopback Hub, records the Hub's validity rules as
`Invalidated` events on its chain syncs, and never invalidates a miner for a hub in trouble."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from tests.support.fake_hub import FakeHub, Fault
from throne.adapters.chain.local import LocalChain
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments

NETUID = 120
WEIGHTS = {"config.json": b"{}", "model.safetensors": b"weights"}
RULED_OUT = {"Dan", "Eve", "Gus"}


def model(name: str) -> str:
    return f"{name.lower()}/affine-{name.lower()}-5Test{name}"


JUDGED_WITHIN_S = 120


def test_sync_records_the_hub_s_validity_rules_and_spares_a_hub_in_trouble(
    tmp_path: Path,
) -> None:
    with FakeHub() as hub:
        revisions = {name: hub.publish_files(model(name), WEIGHTS) for name in RULED_OUT | {"Fay"}}
        hub.disabled.add(model("Dan"))
        revisions["Eve"] = "main"
        hub.gated[model("Gus")] = "manual"
        hub.faults[model("Fay")] = Fault(503)
        chain = LocalChain.init(tmp_path / "chain.db", netuid=NETUID, block_time=0.1)
        chain.register(NETUID, "validator")

        def commit(name: str) -> None:
            commitment = {"model": model(name), "revision": revisions[name]}
            chain.as_signer(f"5Test{name}").commit(NETUID, json.dumps(commitment))
            chain.advance(2)

        for name in sorted(revisions):
            chain.register(NETUID, f"5Test{name}")
        # Fay commits only once the others are judged: her 503 pauses every lookup (a hub in
        # trouble is not asked again for a while), and a lookup it paused would never come.
        for name in sorted(RULED_OUT):
            commit(name)
        envs = environments()
        settings = settings_from_dict(
            {
                "validator": {
                    "db": f"sqlite:///{tmp_path / 'throne.db'}",
                    "chain_db": str(tmp_path / "chain.db"),
                    "data_dir": str(tmp_path / "data"),
                    "poll_seconds": 0.05,
                },
                "envs": {name: {"sampling_count": 6} for name in envs},
                "model_hub": {"kind": "huggingface", "endpoint": hub.url},
            },
            {n: e.id_range for n, e in envs.items()},
        )
        services = build(settings, environments=envs, pool_secret=bytes(32), with_weights=False)
        miners: dict[str, Any] = {}

        def read() -> dict[str, Any]:
            with services.reads.read() as r:
                return {m.hotkey: m.to_dict() for m in r.standings().miners}

        async def run_until_judged() -> None:
            nonlocal miners
            stop = asyncio.Event()
            task = asyncio.create_task(services.daemon.run(stop))
            # A bound, not a timing: the loop ends as soon as every miner is judged (a second or
            # two); a loaded machine may take longer to start the daemon and ask the hub.
            deadline = time.monotonic() + JUDGED_WITHIN_S
            fay_committed = False
            while time.monotonic() < deadline:
                miners = await asyncio.to_thread(read)
                judged = {h for h, m in miners.items() if m["invalid_reason"] is not None}
                if judged >= {f"5Test{n}" for n in RULED_OUT} and not fay_committed:
                    await asyncio.to_thread(commit, "Fay")
                    fay_committed = True
                if fay_committed and hub.requests_for(model("Fay")):
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await task

        try:
            asyncio.run(run_until_judged())
            miners = read()
        finally:
            asyncio.run(services.aclose())
    assert hub.requests_for(model("Fay")), "Fay's commitment was never looked up"
    reasons = {h.removeprefix("5Test"): m["invalid_reason"] for h, m in miners.items()}
    assert reasons == {
        "Dan": "hub:repo is disabled",
        "Eve": "hub:revision is not a full commit sha",
        "Fay": None,  # the hub answered 503: no one is invalidated for that
        "Gus": "hub:repo is gated",
    }
