"""What ``throne run`` and ``throne worker`` run: `build` assembles the daemon from the
settings, opening each part through the rest of the composition root."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from throne.app.chain import CHAIN_WRITE_SECONDS, open_chain
from throne.app.envs import open_chat_client, open_env_services, open_sandbox
from throne.app.errors import StartupError
from throne.app.hosting import open_model_host, open_model_hub
from throne.app.log import creates_log_directory, open_application, open_log
from throne.app.publish import open_publish_loop, publish_target
from throne.ports.chain import Chain
from throne.ports.model_endpoints import ModelEndpoints
from throne.ports.model_host import ModelHost
from throne.ports.model_hub import ModelHub

if TYPE_CHECKING:
    from throne.adapters.inference.client import AiohttpChatCompletions
    from throne.adapters.inference.policy import RetryPolicy
    from throne.adapters.storage.database import Database
    from throne.application import ThroneApplication
    from throne.daemon.daemon import Daemon
    from throne.daemon.hosting import Hosting
    from throne.daemon.sampler import Sampler
    from throne.daemon.settings import Settings, ValidatorSettings
    from throne.envs.base import Environment
    from throne.observability.metrics import ThroneMetrics
    from throne.observability.status_process import StatusProcess
    from throne.ports.env_service import EnvService
    from throne.projections.read_side import ReadSide


def _private_paths(v: ValidatorSettings, db: Database) -> list[str]:
    """What miners' programs must never see: homes, the working directory, and wherever the
    validator keeps its log, chain file, wallets, pool secret and caches."""
    from throne.envs.sandbox.client import default_hidden_paths

    paths = set(default_hidden_paths())
    for p in (v.data_dir, v.chain_db, v.wallet_path, v.pool_secret_file):
        if p:
            path = Path(p).expanduser().resolve()
            paths.add(str(path if path.is_dir() else path.parent))
    if db.path is not None:
        paths.add(str(db.path.expanduser().resolve().parent))
    return sorted(paths)


def _secret(v: ValidatorSettings) -> bytes:
    from throne.daemon.pool_seed import load_or_create_secret

    return load_or_create_secret(v.pool_secret_path)


def _stall_after(settings: Settings) -> dict[str, float]:
    """Per loop, how long an iteration may take before the loop is reported stalled: a chain
    sync may wait for the chain and then the model hub; setting weights for a chain write (and
    the signer's answer, when a signer submits it)."""
    from throne.daemon.daemon import stall_bound

    v = settings.validator
    base = stall_bound(v.poll_seconds)
    return {
        "chain": base + v.chain_timeout_seconds + settings.model_hub.budget_seconds,
        "tick": base,
        "sampler": base,
        "weights": base
        + max(v.chain_timeout_seconds, CHAIN_WRITE_SECONDS)
        + (v.signer_timeout_seconds if v.signer_url else 0.0),
        "projections": base,
        "hosting": base,
    }


@dataclass
class Services:
    settings: Settings
    db: Database
    app: ThroneApplication
    #: every read of the log (the daemon's own questions, the demo's view) goes through it
    reads: ReadSide
    chain: Chain
    client: AiohttpChatCompletions
    sampler: Sampler
    daemon: Daemon
    closers: list[Any] = field(default_factory=list)
    #: the services that run each env's tasks (in-process or remote), by name
    envs: Mapping[str, EnvService] = field(default_factory=dict)
    metrics: ThroneMetrics | None = None
    status: StatusProcess | None = None
    #: the scheduler of the miners' deployments, when the models are hosted
    hosting: Hosting | None = None

    async def aclose(self) -> None:
        await self.close_clients()
        self.close_sync()

    async def close_clients(self) -> None:
        """Close the connections to the env services and the models (within the event loop)."""
        for env in self.envs.values():
            await env.aclose()
        await self.client.aclose()

    def close_sync(self) -> None:
        for c in self.closers:
            c()
        self.reads.close()
        self.app.close()
        self.chain.close()


def build(
    settings: Settings,
    *,
    db: Database | None = None,
    chain: Chain | None = None,
    endpoints: ModelEndpoints | None = None,
    model_hub: ModelHub | None = None,
    environments: Mapping[str, Environment] | None = None,
    retry: RetryPolicy | None = None,
    with_weights: bool = True,
    pool_secret: bytes | None = None,
    role: str = "daemon",
    host: ModelHost | None = None,
) -> Services:
    """Everything ``throne run`` (``role="daemon"``) or ``throne worker`` (``"worker"``) runs.

    A worker only samples the work in the shared log: it opens no chain (it holds a
    :class:`NoChain`) and sets no weights. ``host`` serves the miners' models instead of the
    one ``[hosting]`` names (the demo's and the tests' own)."""
    with ExitStack() as undo:  # on any failure, close what was opened, in reverse order
        services = _build(
            undo,
            settings,
            db=db,
            chain=chain,
            endpoints=endpoints,
            model_hub=model_hub,
            environments=environments,
            retry=retry,
            with_weights=with_weights,
            pool_secret=pool_secret,
            role=role,
            host=host,
        )
        undo.pop_all()
    return services


def _build(
    undo: ExitStack,
    settings: Settings,
    *,
    db: Database | None,
    chain: Chain | None,
    endpoints: ModelEndpoints | None,
    model_hub: ModelHub | None,
    environments: Mapping[str, Environment] | None,
    retry: RetryPolicy | None,
    with_weights: bool,
    pool_secret: bytes | None,
    role: str,
    host: ModelHost | None = None,
) -> Services:
    from throne.adapters.chain.absent import NoChain
    from throne.adapters.inference.endpoints import StaticModelEndpoints
    from throne.adapters.inference.policy import Deadlines, RetryPolicy
    from throne.adapters.storage.claims import SqlWorkClaims
    from throne.adapters.storage.database import check_database, resolve_database
    from throne.adapters.storage.deployments import SqlDeployments
    from throne.adapters.storage.lock import PostgresRoleLock
    from throne.adapters.storage.responses import SqlResponseStore
    from throne.adapters.storage.schema import creating
    from throne.daemon.daemon import Daemon
    from throne.daemon.hosting import MAX_RETRY_SECONDS, Hosting, Schedule
    from throne.daemon.projections import ProjectionKeeper
    from throne.daemon.sampler import Sampler
    from throne.daemon.weight_setter import WeightSetter
    from throne.domain.contest.samples import Sample
    from throne.envs.registry import environments as installed_environments
    from throne.observability.metrics import ThroneMetrics
    from throne.observability.status_process import StatusProcess
    from throne.projections.decisions import DecisionsProjection
    from throne.projections.read_side import ReadSide

    # What the operator configured is opened first (the chain, then the log, which is created
    # if new, then the pool secret), so a mistake stops the start with one line before anything
    # else runs.
    v = settings.validator
    if chain is None:
        chain = open_chain(v) if role == "daemon" else NoChain()
        undo.callback(chain.close)
    db = db or resolve_database(v.db or None)
    check_database(db, must_exist=False, create_parent=creates_log_directory(db))
    writer_lock = open_log(db, as_daemon=role == "daemon")
    if writer_lock is not None:
        undo.callback(writer_lock.release)
    # Every table is made here, under the log's creation lock: processes that start together
    # on a fresh database would otherwise race to create the same ones.
    with creating(db):
        app = open_application(settings, db)
        undo.callback(app.close)
        engine = db.create_engine()
        undo.callback(engine.dispose)
        responses = SqlResponseStore(engine)
        hostname = socket.gethostname()
        # On SQLite the daemon is its log's only one, and a restarted daemon takes its claims
        # back at once; on PostgreSQL a standby beside it must not share its name.
        default_name = (
            f"{hostname}:daemon"
            if role == "daemon" and db.backend == "sqlite"
            else f"{hostname}:{role}:{os.getpid()}"
        )
        claims = SqlWorkClaims(
            engine,
            settings.sampler.worker_name or default_name,
            ttl_seconds=settings.sampler.claim_ttl_seconds,
        )
        metrics = ThroneMetrics()
        reads = ReadSide(
            app,
            store=engine,
            keeps_store=True,
            also=[DecisionsProjection(app.config.netuid)],
        )
        projections = ProjectionKeeper(reads, db, metrics)
        hosted = role == "daemon" and endpoints is None
        hosted = hosted and (host is not None or settings.hosting.host != "static")
        deployments = SqlDeployments(engine) if hosted else None
    secret = pool_secret if pool_secret is not None else _secret(v)
    if environments is None:
        sandbox = open_sandbox(_private_paths(v, db))
        undo.callback(sandbox.close)
        environments = installed_environments(sandbox)
    else:
        sandbox = None
    envs = dict(environments)
    client = open_chat_client(
        deadlines=Deadlines(
            read=settings.sampler.request_timeout_seconds,
            total=settings.sampler.request_timeout_seconds,
        ),
        retry=retry or RetryPolicy(attempts=1 + settings.sampler.retries),
        trust_env=bool(settings.inference.get("proxy_from_environment", False)),
    )

    # Only the writer hosts (it decides, and releases what cannot be served); a worker samples
    # what the gateway serves.
    hosting = None
    if deployments is not None:
        pin = None
        if host is None:
            choice = open_model_host(settings)
            if choice is not None:
                host, pin = choice.host, choice.pin
        if host is not None:
            undo.callback(host.close)
            h = settings.hosting
            hosting = Hosting(
                app,
                host,
                reads,
                Schedule(
                    pre_deploy=h.pre_deploy,
                    health_every=h.health_every,
                    unhealthy_after=h.unhealthy_after,
                    poll_seconds=v.poll_seconds,
                    first_retry=h.retry_after,
                    max_retry=max(h.retry_after, MAX_RETRY_SECONDS),
                ),
                current_block=lambda: daemon.state.synced_block,
                pin=pin,
                record=deployments.replace,
                metrics=metrics,
            )
            endpoints = hosting.endpoints

    def on_sample(sample: Sample, latency: float) -> None:
        metrics.observe_sample(sample.env, sample.outcome, latency or None)
        if sample.outcome != "ok":
            metrics.observe_failure(sample.outcome)

    env_services = open_env_services(settings, envs, client)
    sampler = Sampler(
        app,
        env_services,
        endpoints or StaticModelEndpoints.from_config(settings.inference),
        responses,
        settings.sampler,
        timeouts={name: s.timeout for name, s in settings.env_services.items()},
        claims=claims,
        on_sample=on_sample,
        on_unscored=lambda env, outcome: metrics.observe_unscored(env, outcome.reason),
        reads=reads,
    )
    weight_setter = (
        WeightSetter(
            app,
            chain,
            netuid=v.netuid,
            interval=v.weights_interval_blocks,
            version_key=v.version_key,
        )
        if with_weights
        else None
    )
    daemon = Daemon(
        app,
        chain,
        sampler,
        weight_setter,
        model_hub or open_model_hub(settings),
        netuid=v.netuid,
        poll_seconds=v.poll_seconds,
        secret=secret,
        metrics=metrics,
        projections=projections.run,
        role_lock=PostgresRoleLock(db) if role == "daemon" and db.backend == "postgresql" else None,
        stall_after=_stall_after(settings),
        reads=reads,
        hosting=hosting,
        publisher=open_publish_loop(settings, db, lambda: daemon.state.synced_block)
        if role == "daemon"
        else None,
    )
    closers: list[Any] = [engine.dispose]
    if hosting is not None:
        closers.append(hosting.host.close)
    if sandbox is not None:
        closers.append(sandbox.close)
    if writer_lock is not None:
        closers.append(writer_lock.release)
    services = Services(settings, db, app, reads, chain, client, sampler, daemon, closers)
    services.envs = env_services
    services.metrics = metrics
    services.hosting = hosting
    if v.status_port:
        # In a process of its own: viewers must not take the daemon's CPU from sampling.
        server = StatusProcess(
            config=settings.contest,
            db=db,
            heartbeat=daemon.heartbeat,
            metrics=metrics,
            max_staleness=max(60.0, 10 * v.poll_seconds),
            host=v.status_host,
            port=v.status_port,
            publish=publish_target(settings),
        )
        try:
            server.start()
        except OSError as exc:
            raise StartupError(
                f"cannot serve the status API on {v.status_host}:{v.status_port}: "
                f"{exc.strerror or exc}; choose another status_port (0 = none)"
            ) from exc
        services.status = server
        services.closers.insert(0, server.stop)
    return services
