"""The daemon, wired by `build` to a Hugging Face Hub imitation, invalidates a copied model."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tests.support.contest import read_miner
from tests.support.fake_hub import FakeHub, git_file, lfs_file
from throne.adapters.chain.local import LocalChain
from throne.app import build
from throne.daemon.settings import settings_from_dict
from throne.envs.registry import environments

NETUID = 120
SHARDS = [b"the original weights, part one", b"the original weights, part two"]


def model(name: str) -> str:
    return f"{name}/affine-{name}-5Test{name.capitalize()}"


def test_a_later_committer_of_the_same_weights_is_invalid_as_a_copy(tmp_path: Path) -> None:
    with FakeHub() as hub:
        commits = {
            "ann": hub.publish(
                model("ann"),
                [lfs_file(f"model-{i}.safetensors", w) for i, w in enumerate(SHARDS)]
                + [git_file("config.json")],
            ),
            # The same weight files under new names, a new card and config: still a copy.
            "bob": hub.publish(
                model("bob"),
                [lfs_file(f"shard_{i}.safetensors", w) for i, w in enumerate(SHARDS)]
                + [git_file("config.json", b'{"by": "bob"}'), git_file("README.md", b"mine")],
            ),
            "cat": hub.publish(model("cat"), [lfs_file("model.safetensors", b"cat's own")]),
        }
        chain = LocalChain.init(tmp_path / "chain.db", netuid=NETUID, block_time=0.1)
        chain.register(NETUID, "validator")
        for name, sha in commits.items():
            hotkey = f"5Test{name.capitalize()}"
            chain.register(NETUID, hotkey)
            chain.as_signer(hotkey).commit(
                NETUID, json.dumps({"model": model(name), "revision": sha})
            )
            chain.advance(2)
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

        async def run_until_bob_is_judged() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(services.daemon.run(stop))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                bob = await asyncio.to_thread(read_miner, services.app, "5TestBob")
                if bob is not None and bob["invalid_reason"] is not None:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await task

        try:
            asyncio.run(run_until_bob_is_judged())
            with services.reads.read() as r:
                miners = {m.hotkey: m.to_dict() for m in r.standings().miners}
        finally:
            asyncio.run(services.aclose())
    ann, bob, cat = (miners[f"5Test{n}"] for n in ("Ann", "Bob", "Cat"))
    assert bob["invalid_reason"] == "copy_of:5TestAnn"
    assert ann["invalid_reason"] is None and cat["invalid_reason"] is None
    assert ann["model_hash"] == bob["model_hash"] != cat["model_hash"]
    assert ann["model_hash"] is not None and cat["model_hash"] is not None
    assert hub.requests_for(model("ann")) == 1  # known hashes are not asked for again
