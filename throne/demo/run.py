"""`throne demo`: the whole contest on the embedded default, in a couple of minutes.

It takes the path a hosting validator takes: every actor's model is published on a loopback
Hugging Face Hub (`throne.devhub`), the copy rule reads the model hashes the Hub lists
(`HuggingFaceHub`), and the daemon's `Hosting` deploys the champion, the challenger and the
next queue members with a `LocalEngineHost` whose engine is the local miner server run on the
model folder the `ModelCache` downloaded. Every engine is torn down when the demo ends, however
it ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import shlex
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from throne import event_loop
from throne.adapters.chain.local import LocalChain
from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.adapters.hub.cache import ModelCache
from throne.adapters.hub.huggingface import HuggingFaceHub
from throne.adapters.inference.policy import RetryPolicy
from throne.adapters.storage.database import parse_database_url
from throne.app import Services, build
from throne.audit.format import AuditError
from throne.audit.sources import DatabaseLog
from throne.audit.verification import verify
from throne.daemon.hosting import Hosting
from throne.daemon.settings import Settings, settings_from_dict
from throne.demo.cast import CAST, model_files
from throne.demo.env_servers import env_servers
from throne.demo.story import battles_decided, reigns
from throne.devhub import FakeHub
from throne.envs.registry import environments
from throne.views.standings import standings

NETUID = 120
VALIDATOR = "5DemoValidator"
#: The pool secret: fixed, so the demo's pools, and with them its story, are the same every run
#: (a validator's own is random and kept from the miners; the demo has none to keep it from).
POOL_SECRET = hashlib.sha256(b"throne demo pool secret").digest()
#: engines at once: the champion, the challenger and the two queue members pre-deployed
SLOTS = 4
PORTS = 200
#: a local miner is ready in a second or two; one that is not in this long will never be
READY_TIMEOUT = 60.0
CACHE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DemoOptions:
    directory: Path | None = None
    timeout_seconds: float = 170.0
    sampling_count: int = 20
    block_time: float = 0.2
    #: serve SAT, ABD and DED by `throne env serve` processes, which the daemon calls over
    #: HTTP (the environment protocol), instead of running them in its own process
    remote_envs: bool = False


class DemoDirectoryInUse(Exception):
    """The given directory already holds a demo's files."""


def publish_cast(hub: FakeHub) -> dict[str, str]:
    """Every actor's model on the Hub, in cast order; each actor's commit sha, by hotkey."""
    return {a.hotkey: hub.publish_files(a.model, model_files(a)) for a in CAST if a.published}


def prepare_chain(path: Path, block_time: float, revisions: Mapping[str, str]) -> LocalChain:
    """A fresh local chain: the validator and every actor registered, commits spread out, each
    naming its model at the Hub commit ``revisions`` gives."""
    chain = LocalChain.init(path, netuid=NETUID, block_time=block_time, weights_rate_limit=10)
    chain.register(NETUID, VALIDATOR)
    for actor in CAST:
        chain.register(NETUID, actor.hotkey)
    offset = 0
    for actor in sorted(CAST, key=lambda a: a.commit_offset):
        chain.advance(actor.commit_offset - offset)
        offset = actor.commit_offset
        revision = revisions.get(actor.hotkey, "")
        chain.as_signer(actor.hotkey).commit(NETUID, actor.commitment(revision))
    chain.advance(2)
    return chain.as_signer(VALIDATOR)


def demo_settings(opts: DemoOptions, env_urls: Mapping[str, str] | None = None) -> Settings:
    """The demo's settings; ``env_urls``: the envs served elsewhere, by name."""
    envs = environments()
    urls = env_urls or {}
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
            "envs": {
                name: {
                    "sampling_count": opts.sampling_count,
                    **({"url": urls[name], "timeout": 20.0} if name in urls else {}),
                }
                for name in envs
            },
            "sampler": {
                "concurrency": 12,
                "batch_size": 8,
                "retries": 0,
                "request_timeout_seconds": 20.0,
            },
            # The host is given to `build`; a model nobody can serve is retried soon, so the
            # bounded-release rule ends it within seconds, not minutes.
            "hosting": {"retry_after": 0.5, "ready_timeout": READY_TIMEOUT},
        },
        {name: env.id_range for name, env in envs.items()},
        source="demo",
    )


def engine_command() -> str:
    """The engine template: this interpreter's local miner server on the fetched folder,
    answering to the committed model name."""
    python = shlex.quote(sys.executable).replace("{", "{{").replace("}", "}}")
    return (
        f"{python} -m throne.cli.main miner serve --host {{host}} --port {{port}} "
        "--from-dir {model_dir} --name {model}"
    )


def engine_ports(count: int = PORTS) -> range:
    """``count`` loopback ports from one free now (the host skips any taken meanwhile)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        start = int(s.getsockname()[1])
    start = min(start, 65536 - count)
    return range(start, start + count)


def demo_host(workdir: Path, hub_url: str) -> LocalEngineHost:
    """Engines on this machine, loading the models the cache fetches from ``hub_url``."""
    cache = ModelCache(workdir / "models", CACHE_BYTES, endpoint=hub_url, environ={})
    return LocalEngineHost(
        engine_command(),
        slots=("",) * SLOTS,
        ports=engine_ports(),
        ready_timeout=READY_TIMEOUT,
        state_dir=workdir / "hosting" / "state",
        log_dir=workdir / "hosting" / "logs",
        model_files=cache.fetch,
        poll=0.1,
        stop_grace=5.0,
    )


def end_hosting(hosting: Hosting, host: LocalEngineHost, why: str) -> None:
    """End every engine of the run, whatever state it is in: the host starts none any more
    (deploys in flight end what they started), the scheduler tears its deployments down, and
    the host ends whatever it still holds."""
    host.close()
    hosting.stop_serving(why, READY_TIMEOUT)
    for deployment in host.deployments():
        host.teardown(deployment)


def run_demo(
    opts: DemoOptions, view: Callable[[Services, float], None] | None = None
) -> dict[str, Any]:
    workdir = opts.directory or Path(tempfile.mkdtemp(prefix="throne-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    chain_path, db_path = workdir / "chain.db", workdir / "throne.db"
    if chain_path.exists() or db_path.exists():
        raise DemoDirectoryInUse(f"{workdir} already holds a demo; give an empty directory")
    envs = environments()
    with ExitStack() as stack:
        hub = stack.enter_context(FakeHub())
        chain = prepare_chain(chain_path, opts.block_time, publish_cast(hub))
        db = parse_database_url(str(db_path))
        host = demo_host(workdir, hub.url)
        urls = {}
        if opts.remote_envs:
            urls = stack.enter_context(env_servers(list(envs), workdir / "envs"))
        services = build(
            demo_settings(opts, urls),
            db=db,
            chain=chain,
            model_hub=HuggingFaceHub(hub.url, retry_after_failure=1.0),
            environments=envs,
            retry=RetryPolicy(attempts=1),
            pool_secret=POOL_SECRET,
            host=host,
        )
        stack.callback(services.close_sync)
        hosting = services.hosting
        assert hosting is not None  # a host was given: the daemon hosts
        # Whatever ends the demo (Ctrl-C included), no engine outlives it.
        stack.callback(end_hosting, hosting, host, "demo ended")
        started = time.monotonic()
        event_loop.run(_drive(services, opts, view, started))
        summary = summarise(services)
        hosting.stop_serving("demo ended", READY_TIMEOUT)
        summary["deployments"] = deployments(hosting.deployments())
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["directory"] = str(workdir)
    summary["env_services"] = urls
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
        await services.close_clients()


def deployments(shown: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per deployment of the run, in the order they became ready."""
    keys = ("hotkey", "model", "revision", "role", "ready_s", "torn_down", "reason")
    return [{k: d[k] for k in keys} for d in shown]


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
