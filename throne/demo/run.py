"""`throne demo`: the whole contest on the embedded default, in a couple of minutes."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from throne import event_loop
from throne.adapters.chain.local import LocalChain
from throne.adapters.hub.fixed import StaticModelHub
from throne.adapters.inference.endpoints import StaticModelEndpoints
from throne.adapters.inference.policy import RetryPolicy
from throne.adapters.storage.database import parse_database_url
from throne.app import Services, build
from throne.audit.format import AuditError
from throne.audit.sources import DatabaseLog
from throne.audit.verification import verify
from throne.daemon.settings import Settings, settings_from_dict
from throne.demo.cast import CAST, model_hashes
from throne.demo.story import battles_decided, reigns
from throne.envs.registry import environments
from throne.miners import MinerProfile, MinerServer
from throne.ports.model_endpoints import Endpoint
from throne.views.standings import standings

NETUID = 120
VALIDATOR = "5DemoValidator"


@dataclass(frozen=True)
class DemoOptions:
    directory: Path | None = None
    timeout_seconds: float = 170.0
    sampling_count: int = 20
    block_time: float = 0.2


class DemoDirectoryInUse(Exception):
    """The given directory already holds a demo's files."""


def prepare_chain(path: Path, block_time: float) -> LocalChain:
    """A fresh local chain: the validator and every actor registered, commits spread out."""
    chain = LocalChain.init(path, netuid=NETUID, block_time=block_time, weights_rate_limit=10)
    chain.register(NETUID, VALIDATOR)
    for actor in CAST:
        chain.register(NETUID, actor.hotkey)
    offset = 0
    for actor in sorted(CAST, key=lambda a: a.commit_offset):
        chain.advance(actor.commit_offset - offset)
        offset = actor.commit_offset
        chain.as_signer(actor.hotkey).commit(NETUID, actor.commitment())
    chain.advance(2)
    return chain.as_signer(VALIDATOR)


def demo_settings(opts: DemoOptions) -> Settings:
    envs = environments()
    return settings_from_dict(
        {
            "validator": {"netuid": NETUID, "poll_seconds": 0.1, "weights_interval_blocks": 25},
            "contest": {
                "refresh_blocks": 100_000,
                "battle_deadline_blocks": 5_000,
                "release_after_infra_errors": 4,
                "max_releases": 2,
                "burn": 0.05,
            },
            "envs": {name: {"sampling_count": opts.sampling_count} for name in envs},
            "sampler": {
                "concurrency": 12,
                "batch_size": 8,
                "retries": 0,
                "request_timeout_seconds": 20.0,
            },
        },
        {name: env.id_range for name, env in envs.items()},
        source="demo",
    )


def closed_port() -> int:
    """A loopback port nothing listens on: the miner whose server is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_demo(
    opts: DemoOptions, view: Callable[[Services, float], None] | None = None
) -> dict[str, Any]:
    workdir = opts.directory or Path(tempfile.mkdtemp(prefix="throne-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    chain_path, db_path = workdir / "chain.db", workdir / "throne.db"
    if chain_path.exists() or db_path.exists():
        raise DemoDirectoryInUse(f"{workdir} already holds a demo; give an empty directory")
    chain = prepare_chain(chain_path, opts.block_time)
    envs = environments()
    players = [a for a in CAST if a.role in ("plays", "copy")]
    profiles = [MinerProfile(a.name, revision=a.revision, skill=a.skill) for a in players]
    down = closed_port()
    with MinerServer(profiles, list(envs.values())) as server:
        routes = {a.model: Endpoint(server.base_url, a.name) for a in players}
        for a in CAST:
            if a.role == "down":
                routes[a.model] = Endpoint(f"http://127.0.0.1:{down}/v1", a.name)
        db = parse_database_url(str(db_path))
        services = build(
            demo_settings(opts),
            db=db,
            chain=chain,
            endpoints=StaticModelEndpoints(routes),
            model_hub=StaticModelHub(model_hashes()),
            environments=envs,
            retry=RetryPolicy(attempts=1),
            pool_secret=os.urandom(32),
        )
        started = time.monotonic()
        try:
            event_loop.run(_drive(services, opts, view, started))
            summary = summarise(services)
        finally:
            services.close_sync()
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["directory"] = str(workdir)
    try:
        replay = verify(DatabaseLog(db)).replay
        summary["audit"] = {
            "ok": True,
            "events": replay.events,
            "verdicts_checked": replay.verdicts_checked,
            "weights_checked": replay.weights_checked,
        }
    except AuditError as exc:
        summary["audit"] = {"ok": False, "events": None, "error": str(exc)}
    return summary


def finished(services: Services) -> bool:
    with services.reads.read() as r:
        std = standings(r.standings())
    return (
        std["champion"] is not None
        and std["battle"] is None
        and not std["queue"]
        and services.app.last_weights_block() is not None
        and (services.app.last_weights_block() or 0) >= std["champion"]["since_block"]
    )


async def _drive(
    services: Services,
    opts: DemoOptions,
    view: Callable[[Services, float], None] | None,
    started: float,
) -> None:
    stop = asyncio.Event()
    daemon = asyncio.create_task(services.daemon.run(stop))
    try:
        while time.monotonic() - started < opts.timeout_seconds and not daemon.done():
            done = await asyncio.to_thread(finished, services)
            if view is not None:
                view(services, time.monotonic() - started)
            if done:
                break
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await daemon
        await services.client.aclose()


def summarise(services: Services) -> dict[str, Any]:
    with services.reads.read() as r:
        s = r.standings()
        history = r.history()
    std = standings(s)
    return {
        "battles_decided": battles_decided(history),
        "reigns": reigns(history),
        "terminated": [
            {"hotkey": m["hotkey"], "uid": m["uid"], "reason": m["terminated_reason"]}
            for m in std["terminated"]
        ],
        "invalid": [
            {"hotkey": m.hotkey, "uid": m.uid, "reason": m.invalid_reason}
            for m in s.miners
            if m.invalid_reason is not None
        ],
        "weights": {str(uid): w for uid, w in sorted(s.weights().items())},
        "champion": None if std["champion"] is None else std["champion"]["hotkey"],
    }
