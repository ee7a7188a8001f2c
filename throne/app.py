"""Composition root: the one place that knows the concrete adapters.

`build` assembles what ``throne run`` and ``throne worker`` run, from the settings and,
optionally, adapters to use instead of the configured ones (tests and the demo pass local
chains, local miners and a static model hub). The functions after it are what the other
commands open: they ask here for a chain, a log, a client or a sandbox, and build none
themselves.

At the top of this module only ports are imported; each function imports the adapters and
parts it builds. A command that only reads the chain must not pay for importing the daemon
(aiohttp, SQLAlchemy, the status server: about a second).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from throne.ports.chain import Chain
from throne.ports.model_endpoints import ModelEndpoints
from throne.ports.model_host import ModelHost
from throne.ports.model_hub import ModelHub
from throne.ports.object_store import ObjectReader, ObjectStore
from throne.ports.signer import Signer

if TYPE_CHECKING:
    from throne.adapters.chain.bittensor_chain import BittensorSettings
    from throne.adapters.chain.local import ClockMode, LocalChain
    from throne.adapters.inference.client import AiohttpChatCompletions
    from throne.adapters.inference.policy import Deadlines, Limits, RetryPolicy
    from throne.adapters.signer.client import SignerClient
    from throne.adapters.storage.database import Database
    from throne.adapters.storage.lock import SqliteRoleLock
    from throne.application import ThroneApplication
    from throne.daemon.daemon import Daemon
    from throne.daemon.env_settings import EnvServiceSettings
    from throne.daemon.hosting import Hosting
    from throne.daemon.sampler import Sampler
    from throne.daemon.settings import Settings, ValidatorSettings
    from throne.daemon.supervisor import Loop
    from throne.domain.contest.config import ContestConfig
    from throne.envs.base import Environment
    from throne.envs.sandbox.client import ForkServerSandbox
    from throne.observability.metrics import ThroneMetrics
    from throne.observability.publication import PublishTarget
    from throne.observability.status_process import StatusProcess
    from throne.ports.chat_completions import ChatCompletions
    from throne.ports.env_service import EnvService
    from throne.projections.read_side import ReadSide
    from throne.signer.app import Holding

#: the least time a chain write (setting weights) is given before it counts as failed
CHAIN_WRITE_SECONDS = 120.0


class StartupError(Exception):
    """A part the daemon needs cannot be set up; the message is one line that names the fix."""


def creates_log_directory(db: Database) -> bool:
    """Whether `throne run` creates the log's missing directory: only for the default log, in
    the user's data directory. A named path whose directory is missing is refused instead, as a
    typo there would otherwise start a new, empty contest."""
    from throne.adapters.storage.database import default_database_path

    return db.backend == "sqlite" and db.path == default_database_path()


def open_application(settings: Settings, db: Database) -> ThroneApplication:
    """The application on ``db``, created if new, its sessions bounded so that a blocked query
    fails in time; a log that cannot be used is a
    :class:`~throne.adapters.storage.database.StorageError` with one line, before any loop."""
    from throne.adapters.storage.database import (
        check_database,
        limit_event_store_sessions,
        storage_errors,
    )
    from throne.application import ThroneApplication

    check_database(db, must_exist=False, create_parent=creates_log_directory(db))
    with storage_errors(db):
        app = ThroneApplication(settings.contest, env=db.eventsourcing_env())
    limit_event_store_sessions(app.recorder, db)
    return app


@dataclass(frozen=True)
class ChainChoice:
    """Which chain to open and whose key signs on it: what ``[validator]`` or a command's
    chain flags name. ``hotkey`` is the signer on the local chain (None: read only); on a
    bittensor network the wallet's hotkey signs."""

    network: str = "local"
    chain_db: Path = Path(".throne/chain.db")
    hotkey: str | None = None
    wallet_name: str = "default"
    wallet_hotkey: str = "default"
    wallet_path: Path = Path("~/.bittensor/wallets")
    data_dir: Path = Path(".throne")
    timeout_seconds: float = 30.0

    @classmethod
    def of(cls, v: ValidatorSettings) -> ChainChoice:
        return cls(
            network=v.chain,
            chain_db=Path(v.chain_db),
            hotkey=v.hotkey,
            wallet_name=v.wallet_name,
            wallet_hotkey=v.wallet_hotkey,
            wallet_path=Path(v.wallet_path),
            data_dir=Path(v.data_dir),
            timeout_seconds=v.chain_timeout_seconds,
        )


def connect_chain(choice: ChainChoice, *, key: Any = None) -> Chain:
    """The chain ``choice`` names: the embedded local chain, or bittensor's, signing with
    ``key`` instead of the wallet's hotkey when one is given; writes get at least
    `CHAIN_WRITE_SECONDS`."""
    if choice.network == "local":
        return open_local_chain(choice.chain_db, hotkey=choice.hotkey)
    from throne.adapters.chain.bittensor_chain import BittensorChain

    return BittensorChain(bittensor_settings(choice), signer=key)


def bittensor_settings(choice: ChainChoice) -> BittensorSettings:
    from throne.adapters.chain.bittensor_chain import BittensorSettings

    return BittensorSettings(
        network=choice.network,
        wallet_name=choice.wallet_name,
        wallet_hotkey=choice.wallet_hotkey,
        wallet_path=choice.wallet_path,
        data_dir=choice.data_dir,
        read_deadline_s=choice.timeout_seconds,
        write_deadline_s=max(choice.timeout_seconds, CHAIN_WRITE_SECONDS),
    )


def open_chain(v: ValidatorSettings) -> Chain:
    """The validator's chain; a data directory the SDK cannot use names the setting to fix.
    With ``signer_url`` set, weights go through the signer and the wallet is never opened
    (`open_chain_through_signer`)."""
    if v.signer_url:
        return open_chain_through_signer(v)
    try:
        return connect_chain(ChainChoice.of(v))
    except OSError as exc:  # the SDK's caches go under data_dir
        if v.chain == "local":
            raise
        raise StartupError(
            f"cannot use the data directory {v.data_dir}: {exc.strerror}; choose a writable "
            "data_dir"
        ) from exc


def open_environments() -> dict[str, Environment]:
    """The installed environments, sharing one process-wide sandbox (started on first use):
    what ``throne audit verify --rescore`` re-scores stored responses with."""
    from throne.envs.registry import environments

    return environments()


def open_model_hub(settings: Settings, environ: Mapping[str, str] | None = None) -> ModelHub:
    """The configured model hub; ``auto`` asks Hugging Face only on a bittensor network."""
    from throne.adapters.hub.fixed import NoModelHub

    hub = settings.model_hub
    if hub.resolved_kind(settings.validator.chain) == "none":
        return NoModelHub()
    # Imported here: the hub's client costs a few tenths of a second, on the local chain for
    # nothing.
    from throne.adapters.hub import HuggingFaceHub

    env = os.environ if environ is None else environ
    return HuggingFaceHub(
        hub.resolved_endpoint(env),
        token=hub.resolved_token(env),
        timeout=hub.timeout_seconds,
        budget=hub.budget_seconds,
        retry_after_failure=hub.retry_after_failure_seconds,
        revision_grace=hub.revision_grace_seconds,
    )


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
class HostChoice:
    """The configured host, and the model cache its engines load from (None when the host
    downloads nothing itself)."""

    host: ModelHost
    pin: Any = None


def open_model_host(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> HostChoice | None:
    """The host ``[hosting]`` names; None for ``static`` (a gateway serves every model)."""
    h = settings.hosting
    if h.host == "static":
        return None
    env = os.environ if environ is None else environ
    data = Path(settings.validator.data_dir).expanduser() / "hosting"
    if h.host == "chutes":
        from throne.adapters.hosting.chutes import (
            ChutesEndpoints,
        )

        return HostChoice(
            ChutesEndpoints(
                h.chutes.api,
                api_key=env.get(h.chutes.key_env) or None,
                url_template=h.chutes.url_template,
            )
        )
    if h.host == "ssh":
        from throne.adapters.hosting.ssh_engine import (
            SshBox,
            SshEngineHost,
        )

        boxes = [
            SshBox(
                b.name,
                b.host,
                port=b.port,
                user=b.user,
                key_file=Path(b.key_file).expanduser() if b.key_file else None,
                slots=tuple(b.slots),
                known_hosts=Path(b.known_hosts).expanduser() if b.known_hosts else None,
            )
            for b in h.ssh.boxes
        ]
        return HostChoice(
            SshEngineHost(
                h.ssh.command,
                boxes=boxes,
                ports=range(*h.ssh.ports),
                served_model=h.ssh.served_model,
                ready_timeout=h.ready_timeout,
                state_dir=data / "ssh",
            )
        )
    from throne.adapters.hosting.local_engine import (
        LocalEngineHost,
    )
    from throne.adapters.hub.cache import ModelCache

    hub = settings.model_hub
    cache_dir = Path(h.cache.dir).expanduser() if h.cache.dir else data.parent / "models"
    cache = ModelCache(
        cache_dir,
        h.cache.max_bytes,
        endpoint=hub.resolved_endpoint(env),
        token=hub.resolved_token(env),
    )
    return HostChoice(
        LocalEngineHost(
            h.local.command,
            slots=tuple(h.local.slots),
            ports=range(*h.local.ports),
            served_model=h.local.served_model,
            ready_timeout=h.ready_timeout,
            state_dir=data / "local",
            log_dir=data / "logs",
            model_files=cache.fetch,
        ),
        pin=cache.pin,
    )


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


def open_log(db: Database, *, as_daemon: bool) -> SqliteRoleLock | None:
    """Before anything is written: refuse a SQLite file that is not a throne log, take a
    SQLite log's writer lock for a daemon (the lock that makes it the only one), and check the
    log's pages. Returns the lock taken, if any."""
    from throne.adapters.storage.identity import claim_sqlite_log
    from throne.adapters.storage.integrity import check_integrity
    from throne.adapters.storage.lock import SqliteRoleLock

    if db.backend != "sqlite":
        return None
    claim_sqlite_log(db)
    lock = SqliteRoleLock(db) if as_daemon else None
    if lock is not None:
        lock.acquire()
    try:
        check_integrity(db)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return lock


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
            publish=_publish_target(settings),
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


def open_env_services(
    settings: Settings, local: Mapping[str, Environment], chat: ChatCompletions
) -> dict[str, EnvService]:
    """The service that runs each configured env's tasks: over HTTP for an env with a ``url``
    (docs/envs.md), else in-process, asking the model through ``chat``. ``local``: throne's
    single-turn envs by name; its multi-turn ones come from the registry."""
    from throne.adapters.envs.in_process import InProcessEnv, InProcessEpisodes
    from throne.envs.registry import episodic_environments

    episodic = episodic_environments()
    services: dict[str, EnvService] = {}
    for env in settings.contest.envs:
        remote = settings.env_services.get(env.name)
        if remote is not None:
            services[env.name] = open_remote_env(env.name, remote, chat)
        elif env.name in local:
            services[env.name] = InProcessEnv(local[env.name], chat)
        elif env.name in episodic:
            services[env.name] = InProcessEpisodes(episodic[env.name], chat)
        else:
            raise StartupError(
                f"env {env.name!r} is neither installed nor given a url in [envs.{env.name}]"
            )
    return services


def open_remote_env(name: str, s: EnvServiceSettings, chat: ChatCompletions) -> EnvService:
    """An env served elsewhere, by the protocol of docs/envs.md."""
    from throne.adapters.envs.remote import RemoteEnv, RemoteEpisodes
    from throne.adapters.envs.transport import EnvProtocolClient

    client = EnvProtocolClient(
        list(s.urls),
        load_balance=s.load_balance,
        concurrency=s.concurrency,
        retries=s.retries,
    )
    if s.interface == "interactive":
        return RemoteEpisodes(name, client, chat, max_turns=s.max_turns, score_range=s.score_range)
    return RemoteEnv(name, client, score_range=s.score_range, eval_params=s.eval_params)


# -- What the other commands open --------------------------------------------------------------


def open_eval_service(
    name: str,
    env_url: str | None,
    chat: ChatCompletions,
    *,
    interface: str = "evaluate",
    max_turns: int | None = None,
    score_range: tuple[float, float] = (0.0, 1.0),
    eval_params: Mapping[str, object] | None = None,
    concurrency: int = 8,
) -> EnvService:
    """The env ``throne eval`` and the SDK run tasks on: the service at ``env_url``, or
    throne's own env ``name`` in-process. Raises ValueError for a bad url or interface, and
    KeyError for an env that is not installed."""
    from throne.adapters.envs.in_process import InProcessEnv, InProcessEpisodes
    from throne.daemon.env_settings import split_service
    from throne.envs.registry import environments, episodic_environments

    if env_url is not None:
        table = {
            "url": env_url,
            "interface": interface,
            "max_turns": max_turns or 30,
            "score_range": list(score_range),
            "eval_params": dict(eval_params or {}),
            "concurrency": concurrency,
        }
        _, remote = split_service(table, "--env-url")
        assert remote is not None
        return open_remote_env(name, remote, chat)
    local = environments()
    if name in local:
        return InProcessEnv(local[name], chat)
    episodic = episodic_environments()
    if name in episodic:
        return InProcessEpisodes(episodic[name], chat, max_turns=max_turns)
    raise KeyError(name)


def _publish_target(settings: Settings) -> PublishTarget | None:
    """Where ``[publish]`` publishes the log, for the dashboard's audit page (None: nowhere)."""
    from throne.observability.publication import PublishTarget

    p = settings.publish
    return PublishTarget(p.to, p.endpoint_url, p.region) if p.to else None


def open_reader(db: Database, config: ContestConfig) -> ThroneApplication:
    """The application over an existing log, for reading: it creates no table. ``config``
    only names the subnet; the rules in force are the ones the log recorded."""
    from throne.application import ThroneApplication

    return ThroneApplication(config, env=db.eventsourcing_env(create_tables=False))


def open_operator(db: Database, config: ContestConfig) -> ThroneApplication:
    """The application over an existing log, for an operator's command (``throne admin``): it
    creates no table, and writes only what the contest's command records. ``config`` only
    names the subnet."""
    from throne.application import ThroneApplication

    return ThroneApplication(config, env=db.eventsourcing_env(create_tables=False))


def open_reads(db: Database, config: ContestConfig) -> ReadSide:
    """The read side of an existing log for a reader that may not write (a read command, the
    status API's process): the log opened read-only, and the read models the daemon keeps in
    its database. Closing it closes both."""
    from throne.adapters.storage.database import limit_event_store_sessions
    from throne.projections.read_side import ReadSide

    readonly = db.readonly()
    app = open_reader(readonly, config)
    try:
        limit_event_store_sessions(app.recorder, readonly)
        return ReadSide(app, store=readonly.create_engine(), owns=True)
    except BaseException:
        app.close()
        raise


def init_log(db: Database) -> None:
    """Create every table of the log (idempotent): the event store, the responses, the work
    claims, and the schema version, recorded once. A SQLite file that holds something else is
    refused first."""
    from throne.adapters.storage.claims import SqlWorkClaims
    from throne.adapters.storage.database import storage_errors
    from throne.adapters.storage.identity import claim_sqlite_log
    from throne.adapters.storage.responses import SqlResponseStore
    from throne.adapters.storage.schema import creating, record_schema_version
    from throne.application import ThroneApplication
    from throne.domain.contest.config import ContestConfig

    if db.backend == "sqlite":
        claim_sqlite_log(db)
    with storage_errors(db), creating(db):
        ThroneApplication(ContestConfig(), env=db.eventsourcing_env()).close()
        engine = db.create_engine()
        try:
            SqlResponseStore(engine)
            SqlWorkClaims(engine, "init", ttl_seconds=1)
            record_schema_version(engine)
        finally:
            engine.dispose()


def deployed_hotkeys(reads: ReadSide) -> set[str]:
    """The hotkeys whose models the hosting daemon serves now (its deployments table; none
    for a log never hosted, or one without a database)."""
    from throne.adapters.storage.deployments import read_deployments

    return set() if reads.store is None else {r["hotkey"] for r in read_deployments(reads.store)}


def log_schema_version(db: Database) -> int | None:
    """The schema version an existing log records (None: it has no throne schema)."""
    from throne.adapters.storage.database import storage_errors
    from throne.adapters.storage.schema import read_schema_version

    with storage_errors(db):
        engine = db.create_engine()
        try:
            return read_schema_version(engine)
        finally:
            engine.dispose()


def open_chat_client(
    *,
    deadlines: Deadlines,
    retry: RetryPolicy,
    limits: Limits | None = None,
    trust_env: bool = False,
) -> AiohttpChatCompletions:
    """The client that asks models for chat completions (the daemon's, and ``throne eval``'s);
    with ``trust_env`` it goes through the environment's HTTP(S) proxy."""
    from throne.adapters.inference.client import AiohttpChatCompletions

    return AiohttpChatCompletions(
        deadlines=deadlines, retry=retry, limits=limits, trust_env=trust_env
    )


def open_sandbox(hidden_paths: list[str] | None = None) -> ForkServerSandbox:
    """The program sandbox (its server starts on first use); ``hidden_paths`` are covered from
    programs (default: the home directories and the working directory)."""
    from throne.envs.sandbox.client import ForkServerSandbox

    return ForkServerSandbox(hidden_paths=hidden_paths)


def open_local_chain(path: Path, *, hotkey: str | None = None) -> LocalChain:
    """The embedded chain in ``path``, signing as ``hotkey``: the `Chain` of ``--chain local``,
    and what ``throne localnet`` drives beyond the port (registrations, blocks)."""
    from throne.adapters.chain.local import LocalChain

    return LocalChain(path, hotkey=hotkey)


def create_local_chain(
    path: Path,
    *,
    netuid: int,
    start_block: int,
    clock_mode: ClockMode,
    block_time: float,
    weights_rate_limit: int,
    version_key: int,
) -> LocalChain:
    """A new embedded chain in ``path`` with one subnet; refuses to overwrite a file."""
    from throne.adapters.chain.local import LocalChain

    return LocalChain.init(
        path,
        netuid=netuid,
        start_block=start_block,
        clock_mode=clock_mode,
        block_time=block_time,
        weights_rate_limit=weights_rate_limit,
        version_key=version_key,
    )


# -- Publishing the signed log (`throne publish`, `[publish]`, `audit verify s3://...`) --------


def open_object_store(
    url: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    reading: bool = False,
) -> ObjectStore:
    """The bucket folder ``s3://BUCKET/PREFIX`` the log is published to; credentials and the
    endpoint from the AWS variables unless given (``reading``: anonymously when there are no
    credentials, as of a public bucket). ``ValueError`` for a URL that is no such."""
    from throne.adapters.publish.s3 import S3ObjectStore
    from throne.ports.object_store import S3Location

    return S3ObjectStore(
        S3Location.parse(url),
        endpoint_url=endpoint_url,
        region=region,
        anonymous=None if reading else False,
    )


def open_published_log(
    url: str, *, endpoint_url: str | None = None, region: str | None = None
) -> tuple[ObjectReader, str]:
    """(the reader, the index's key) of a published log named by ``s3://BUCKET/PREFIX`` (read
    anonymously when no credentials are configured) or by the ``http(s)://`` URL of its
    index. ``ValueError`` for a URL that is neither."""
    from throne.audit.published import INDEX_KEY

    if url.startswith("s3://"):
        store = open_object_store(url, endpoint_url=endpoint_url, region=region, reading=True)
        return store, INDEX_KEY
    from throne.adapters.publish.http import HttpObjectReader, split_index_url

    base, name = split_index_url(url)
    return HttpObjectReader(base), name


def open_publish_loop(
    settings: Settings, db: Database, current_block: Callable[[], int]
) -> Loop | None:
    """The daemon's publisher (`throne.daemon.publishing`) of ``[publish]``: the log of ``db``
    to ``to`` every ``every_blocks`` of ``current_block``; None when ``to`` is empty. The key
    is loaded here, so that a bad one stops the start."""
    p = settings.publish
    if not p.to:
        return None
    from functools import partial

    from throne.audit.publisher import publish
    from throne.audit.signing import load_signer
    from throne.daemon.publishing import PublishLoop

    store = open_object_store(p.to, endpoint_url=p.endpoint_url or None, region=p.region or None)
    # Behind a signer the daemon holds no key: the signer signs the parts' checkpoints.
    v = settings.validator
    signer: Signer = (
        open_signer_client(v)
        if v.signer_url
        else load_signer(Path(p.key).expanduser() if p.key else None)
    )
    loop = PublishLoop(
        partial(publish, db, store, signer),
        every_blocks=p.every_blocks,
        current_block=current_block,
        poll_seconds=settings.validator.poll_seconds,
    )
    return loop.run


# -- The signer: the process that holds the validator's hotkey, and the daemon's way to it -----


def open_signer_client(v: ValidatorSettings) -> SignerClient:
    """The client of the signer ``signer_url`` names, with the token of ``signer_token_file``
    (refused, in one line, when others may read it)."""
    from throne.adapters.signer.client import SignerClient
    from throne.adapters.signer.token import TokenFileError, read_token_file

    try:
        token = read_token_file(Path(v.signer_token_file))
    except TokenFileError as exc:
        raise StartupError(str(exc)) from exc
    return SignerClient(
        v.signer_url,
        token,
        timeout=v.signer_timeout_seconds,
        # the signer waits for the chain up to its own write deadline, then answers
        write_timeout=CHAIN_WRITE_SECONDS + v.signer_timeout_seconds,
    )


def open_chain_through_signer(v: ValidatorSettings) -> Chain:
    """The daemon's chain when a signer holds the hotkey: reads from the chain through an
    adapter that holds no key, weights through the signer."""
    from throne.adapters.signer.chain import NoKey, SignerChain

    choice = ChainChoice.of(v)
    client = open_signer_client(v)
    try:
        if choice.network == "local":
            reads: Chain = open_local_chain(choice.chain_db)
        else:
            from throne.adapters.chain.bittensor_chain import BittensorChain

            reads = BittensorChain(bittensor_settings(choice), signer=NoKey())
    except BaseException:
        client.close()
        raise
    return SignerChain(reads, client)


def open_signer_holding(v: ValidatorSettings, key_file: Path | None = None) -> Holding:
    """What ``throne signer`` holds. On a Bittensor network: the wallet's hotkey, which signs
    weights and checkpoints alike (an auditor finds the validator by the export's signer). On
    the local chain, whose hotkeys are names: the chain as ``hotkey``, and the key in
    ``key_file`` (default: the local signing key ``throne audit export`` uses) for checkpoints.
    """
    from throne.signer.app import Holding

    choice = ChainChoice.of(v)
    if choice.network == "local":
        from throne.audit.signing import load_signer

        chain = open_local_chain(choice.chain_db, hotkey=choice.hotkey)
        return Holding(chain, load_signer(key_file), v.netuid, v.chain)
    if key_file is not None:
        raise StartupError(
            "--key is for the local chain: on a Bittensor network the wallet's hotkey signs "
            "the checkpoints too"
        )
    from throne.adapters.chain.bittensor_chain import load_hotkey

    settings = bittensor_settings(choice)
    key = load_hotkey(settings)
    return Holding(connect_chain(choice, key=key), key, v.netuid, v.chain)
