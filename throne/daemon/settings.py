"""``throne.toml``: every key has a default, so an empty file (or none) is a valid setup.

Sections: ``[validator]`` (where the log and the chain are, weight cadence), ``[contest]`` (the
rules, recorded in the log), ``[envs.NAME]`` (one table per evaluation env), ``[sampler]`` and
``[inference]`` (how miners' models are reached), ``[model_hub]`` (where model hashes come from,
for the copy rule), ``[hosting]`` (who serves the miners' models: a gateway, this machine's
engines, SSH boxes or the miners' Chutes), ``[publish]`` (the bucket the daemon publishes the
signed log to, every N blocks). `throne config show` prints the effective values,
passwords and keys hidden.

Every value is checked when the file is loaded: its type against its default's, and its range
against the rule annotated on its field (``Annotated[float, above(0)]``, see
``throne.domain.field_rules``). A bad value stops every command at once, with one line that
names the key and the range it must lie in.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Set
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from throne.adapters.inference.endpoints import read_endpoint_table
from throne.adapters.signer.url import is_signer_url
from throne.adapters.storage.database import StorageError, parse_database_url
from throne.daemon.env_settings import EnvServiceSettings, split_service
from throne.domain.contest.config import NETUID_RANGE, ContestConfig, EnvConfig
from throne.domain.field_rules import (
    Rule,
    above,
    at_least,
    check_fields,
    http_url,
    is_http_url,
    not_empty,
    one_of,
    within,
)
from throne.ports.chain import is_chain_name
from throne.ports.object_store import S3Location

DEFAULT_SAMPLING_COUNTS = {"SAT": 200, "ABD": 200, "DED": 200}


class SettingsError(ValueError):
    """The configuration file is unreadable or has a bad key or value."""


def _database_url(text: str) -> bool:
    if not text:
        return True  # "" = $THRONE_DB, else the default file
    try:
        parse_database_url(text)
    except StorageError:
        return False
    return True


DATABASE_URL = Rule(_database_url, "a SQLite path, sqlite:///PATH or postgresql://... URL")
CHAIN_NAME = Rule(is_chain_name, "local, finney, test or a ws(s):// URL")
PORT = within(0, 65535)
SIGNER_URL = Rule(lambda v: v == "" or is_signer_url(v), 'unix:///PATH, http://HOST:PORT or ""')


@dataclass(frozen=True)
class ValidatorSettings:
    #: the event log: a SQLite path or URL, or postgresql://...; "" = $THRONE_DB or the default
    db: Annotated[str, DATABASE_URL] = ""
    netuid: Annotated[int, NETUID_RANGE] = 120
    #: local (the embedded chain in chain_db), finney, test, or a ws(s):// URL
    chain: Annotated[str, CHAIN_NAME] = "local"
    chain_db: Annotated[str, not_empty()] = ".throne/chain.db"
    #: the validator's hotkey on the local chain
    hotkey: Annotated[str, not_empty()] = "validator"
    wallet_name: Annotated[str, not_empty()] = "default"
    wallet_hotkey: Annotated[str, not_empty()] = "default"
    wallet_path: Annotated[str, not_empty()] = "~/.bittensor/wallets"
    data_dir: Annotated[str, not_empty()] = ".throne"
    #: the secret pool seeds derive from; "" = data_dir/pool-secret (created on first run)
    pool_secret_file: str = ""
    chain_timeout_seconds: Annotated[float, above(0)] = 30.0
    #: submit weights every N blocks, once the rate limit allows
    weights_interval_blocks: Annotated[int, at_least(1)] = 180
    version_key: Annotated[int, at_least(0)] = 0
    #: how often the loops look for a new block
    poll_seconds: Annotated[float, above(0)] = 2.0
    #: the read-only status API and /metrics; port 0 = off
    status_host: Annotated[str, not_empty()] = "127.0.0.1"
    status_port: Annotated[int, PORT] = 0
    #: a `throne signer` holding the hotkey (unix:///PATH or http://127.0.0.1:PORT); set, the
    #: daemon never opens the wallet. "" = the daemon signs itself
    signer_url: Annotated[str, SIGNER_URL] = ""
    #: the signer's bearer token, in a file of mode 600; required with signer_url
    signer_token_file: str = ""
    #: seconds for a request to the signer (a weight submission gets the chain's time on top)
    signer_timeout_seconds: Annotated[float, above(0)] = 10.0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.signer_url and not self.signer_token_file.strip():
            raise ValueError("signer_url needs signer_token_file (the signer's token, mode 600)")

    @property
    def pool_secret_path(self) -> Path:
        """``pool_secret_file``, else ``pool-secret`` in the data directory."""
        return Path(self.pool_secret_file or Path(self.data_dir) / "pool-secret").expanduser()


@dataclass(frozen=True)
class SamplerSettings:
    #: evaluations in flight at once
    concurrency: Annotated[int, at_least(1)] = 16
    #: samples recorded per transaction
    batch_size: Annotated[int, at_least(1)] = 32
    temperature: Annotated[float, within(0, 2)] = 0.0
    #: 0 = no cap
    max_tokens: Annotated[int, at_least(0)] = 0
    #: seconds for one chat completion, retries included
    request_timeout_seconds: Annotated[float, above(0)] = 600.0
    retries: Annotated[int, at_least(0)] = 2
    #: a claim on a work item lapses unless renewed within this long (a dead worker's work
    #: returns to the pool after it)
    claim_ttl_seconds: Annotated[float, above(0)] = 60.0
    #: how this sampler names itself in claims; "" = host:daemon for `throne run` on SQLite
    #: (its log's only daemon: restarted, it takes its claims back at once), host:daemon:pid on
    #: PostgreSQL (a standby beside it must not share its claims), host:worker:pid for workers
    worker_name: str = ""

    def __post_init__(self) -> None:
        check_fields(self)


MODEL_HUB_KINDS = ("auto", "huggingface", "none")
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class ModelHubSettings:
    #: auto (Hugging Face on a bittensor network, none on the local chain), huggingface, none
    kind: Annotated[str, one_of(*MODEL_HUB_KINDS)] = "auto"
    #: the hub's URL; at its default, $HF_ENDPOINT (when set) stands in for it
    endpoint: Annotated[str, http_url()] = DEFAULT_HUB_ENDPOINT
    #: the environment variable holding a hub access token; unset or empty = no token
    token_env: str = "HF_TOKEN"
    #: seconds for one request to the hub
    timeout_seconds: Annotated[float, above(0)] = 10.0
    #: seconds one chain sync may spend on the hub; the rest is looked up on later syncs
    budget_seconds: Annotated[float, above(0)] = 20.0
    #: a failed lookup is tried again after this long (a missing repo or revision: 6x longer)
    retry_after_failure_seconds: Annotated[float, at_least(0)] = 600.0
    #: a revision the hub does not know invalidates its miners only once the hub has said so
    #: for this long (a push can take a moment to show)
    revision_grace_seconds: Annotated[float, at_least(0)] = 900.0

    def __post_init__(self) -> None:
        check_fields(self)

    def resolved_kind(self, chain: str) -> str:
        """``huggingface`` or ``none``: what ``auto`` means on ``chain``."""
        if self.kind != "auto":
            return self.kind
        return "none" if chain == "local" else "huggingface"

    def resolved_endpoint(self, environ: Mapping[str, str]) -> str:
        """The hub's URL: ``endpoint``, or ``HF_ENDPOINT`` (the variable every Hugging Face tool
        reads) when it is set and ``endpoint`` is left at its default."""
        given = environ.get("HF_ENDPOINT", "").strip()
        if self.endpoint != DEFAULT_HUB_ENDPOINT or not given:
            return self.endpoint
        if not is_http_url(given):
            raise SettingsError(f"HF_ENDPOINT must be an http(s):// URL, got {given!r}")
        return given

    def resolved_token(self, environ: Mapping[str, str]) -> str | None:
        """The hub's access token: the variable named by ``token_env``; unset or empty, none."""
        return environ.get(self.token_env) or None


HOST_KINDS = ("static", "local", "ssh", "chutes")


@dataclass(frozen=True)
class LocalHostSettings:
    #: the engine's command template ({model} {revision} {model_dir} {port} {host} {gpus}...)
    command: str = ""
    #: GPU slots, one deployment each (CUDA_VISIBLE_DEVICES groups; "" = no GPU)
    slots: list[str] = field(default_factory=lambda: [""])
    #: the ports engines listen on: [start, stop)
    ports: list[int] = field(default_factory=lambda: [30000, 30100])
    #: the name the engine serves the model under, a template of the same fields
    served_model: str = "{model}"


@dataclass(frozen=True)
class SshBoxSettings:
    name: str = ""
    host: str = ""
    port: int = 22
    user: str = "root"
    key_file: str = ""
    slots: list[str] = field(default_factory=lambda: [""])
    known_hosts: str = ""


@dataclass(frozen=True)
class SshHostSettings:
    command: str = ""
    ports: list[int] = field(default_factory=lambda: [30000, 30100])
    served_model: str = "{model}"
    boxes: tuple[SshBoxSettings, ...] = ()


@dataclass(frozen=True)
class ChutesHostSettings:
    api: Annotated[str, http_url()] = "https://api.chutes.ai"
    url_template: Annotated[str, not_empty()] = "https://{slug}.chutes.ai/v1"
    #: the environment variable holding the Chutes API key
    key_env: str = "CHUTES_API_KEY"

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class ModelCacheSettings:
    #: where models are downloaded; "" = data_dir/models
    dir: str = ""
    max_bytes: Annotated[int, at_least(1)] = 200 * 10**9

    def __post_init__(self) -> None:
        check_fields(self)


HOSTING_TABLES = frozenset({"local", "ssh", "chutes", "cache"})


@dataclass(frozen=True)
class HostingSettings:
    #: static (a gateway serves every model: [inference]), local, ssh or chutes
    host: Annotated[str, one_of(*HOST_KINDS)] = "static"
    #: queue members deployed ahead of their battle
    pre_deploy: Annotated[int, at_least(0)] = 2
    #: seconds between health checks of a deployment
    health_every: Annotated[float, above(0)] = 240.0
    #: failed health checks in a row that make a deployment unhealthy
    unhealthy_after: Annotated[int, at_least(1)] = 5
    #: seconds an engine may take to be ready
    ready_timeout: Annotated[float, above(0)] = 1800.0
    #: seconds before a failed deploy is tried again, doubling at each failure up to 300
    retry_after: Annotated[float, above(0)] = 5.0
    local: LocalHostSettings = field(default_factory=LocalHostSettings)
    ssh: SshHostSettings = field(default_factory=SshHostSettings)
    chutes: ChutesHostSettings = field(default_factory=ChutesHostSettings)
    cache: ModelCacheSettings = field(default_factory=ModelCacheSettings)

    def __post_init__(self) -> None:
        check_fields(self)


def _s3_url(text: str) -> bool:
    if not text:
        return True  # "" = the daemon does not publish
    try:
        S3Location.parse(text)
    except ValueError:
        return False
    return True


def _empty_or_http_url(text: str) -> bool:
    return not text or is_http_url(text)


S3_URL = Rule(_s3_url, "an s3://BUCKET/PREFIX URL, or empty")
EMPTY_OR_HTTP_URL = Rule(_empty_or_http_url, "an http(s):// URL, or empty")


@dataclass(frozen=True)
class PublishSettings:
    """``[publish]``: the daemon publishes the signed log (`throne publish`) every N blocks.
    Credentials come from the AWS variables or the AWS config files, never from here."""

    #: s3://BUCKET/PREFIX; "" = the daemon does not publish
    to: Annotated[str, S3_URL] = ""
    #: publish every N blocks (the first time at the first block synced)
    every_blocks: Annotated[int, at_least(1)] = 300
    #: the S3-compatible endpoint (R2, MinIO); "" = $AWS_ENDPOINT_URL, else Amazon S3
    endpoint_url: Annotated[str, EMPTY_OR_HTTP_URL] = ""
    #: the bucket's region; "" = $AWS_REGION or $AWS_DEFAULT_REGION
    region: str = ""
    #: the key that signs the checkpoints (0x seed, //uri or mnemonic); "" = the local key
    key: str = ""
    #: the public http(s) URL of the published index.json (a CDN, the bucket's website), which
    #: the dashboard's audit page gives auditors to verify without credentials; "" = none
    index_url: Annotated[str, EMPTY_OR_HTTP_URL] = ""

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class Settings:
    validator: ValidatorSettings = field(default_factory=ValidatorSettings)
    contest: ContestConfig = field(default_factory=ContestConfig)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    #: `StaticModelEndpoints.from_config` table: gateway, api_key, routes
    inference: Mapping[str, Any] = field(default_factory=dict)
    model_hub: ModelHubSettings = field(default_factory=ModelHubSettings)
    hosting: HostingSettings = field(default_factory=HostingSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    #: the envs that run as services elsewhere, by name (the others run in-process)
    env_services: Mapping[str, EnvServiceSettings] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Every section as plain values, with keys and URL passwords replaced by ``***``."""
        contest = self.contest.to_dict()
        envs = {e.pop("name"): e for e in contest.pop("envs")}
        for name, service in self.env_services.items():
            envs[name].update(service.to_dict())
        contest.pop("netuid")
        return _redact(
            {
                "validator": asdict(self.validator),
                "contest": contest,
                "envs": envs,
                "sampler": asdict(self.sampler),
                "inference": dict(self.inference),
                "model_hub": asdict(self.model_hub),
                "hosting": asdict(self.hosting),
                "publish": asdict(self.publish),
            }
        )


#: The verdict rule of a configuration that names none (docs/verdicts.md: the mechanism bench
#: measured it against its targets). The domain's own default, for records built in code,
#: stays the rule ``min_dominant_envs`` implies.
DEFAULT_RULE = "sequential"


def default_envs(id_ranges: Mapping[str, tuple[int, int]]) -> tuple[EnvConfig, ...]:
    return tuple(
        EnvConfig(name, DEFAULT_SAMPLING_COUNTS.get(name, 200), id_ranges[name])
        for name in id_ranges
    )


def load_settings(
    path: Path | None,
    id_ranges: Mapping[str, tuple[int, int]],
    optional: Mapping[str, tuple[int, int]] | None = None,
) -> Settings:
    """Read ``path`` (None or a missing default file: all defaults).

    ``id_ranges`` are the id ranges of the installed environments a configuration without
    ``[envs]`` runs; ``optional`` those of the installed ones it runs only when named (GUESS).
    An env table may narrow an installed env's range with ``id_range = [start, stop]``; an env
    that is not installed must be a service (``url``) and give its ``id_range``.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"cannot read {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise SettingsError(f"{path}: not a text file ({exc.reason})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    return settings_from_dict(raw, id_ranges, source=str(path or "defaults"), optional=optional)


SECTIONS = (
    "validator",
    "contest",
    "envs",
    "sampler",
    "inference",
    "model_hub",
    "hosting",
    "publish",
)


def settings_from_dict(
    raw: Mapping[str, Any],
    id_ranges: Mapping[str, tuple[int, int]],
    source: str = "settings",
    *,
    optional: Mapping[str, tuple[int, int]] | None = None,
) -> Settings:
    unknown = set(raw) - set(SECTIONS)
    if unknown:
        raise SettingsError(f"{source}: unknown section(s) {sorted(unknown)}")
    validator = _section(ValidatorSettings(), raw.get("validator", {}), f"{source} [validator]")
    sampler = _section(SamplerSettings(), raw.get("sampler", {}), f"{source} [sampler]")
    envs, services = _envs(raw.get("envs", {}), id_ranges, optional or {}, source)
    where = f"{source} [contest]"
    table = _typed(ContestConfig(), raw.get("contest", {}), where, skip={"envs", "netuid"})
    try:
        contest = ContestConfig.from_dict(
            # A log without ``evidence`` predates ordered pools; a new configuration has it,
            # and is judged by the sequential rule unless the file names another.
            {
                "evidence": ContestConfig().evidence,
                "rule": DEFAULT_RULE,
                **table,
                "netuid": validator.netuid,
                "envs": [e.to_dict() for e in envs],
            }
        )
    except ValueError as exc:  # a value outside its range, or a rule across values
        raise SettingsError(f"{where}: {exc}") from exc
    inference = _inference(raw.get("inference", {}), f"{source} [inference]")
    model_hub = _section(ModelHubSettings(), raw.get("model_hub", {}), f"{source} [model_hub]")
    hosting = _hosting(raw.get("hosting", {}), f"{source} [hosting]")
    publish = _section(PublishSettings(), raw.get("publish", {}), f"{source} [publish]")
    return Settings(validator, contest, sampler, inference, model_hub, hosting, publish, services)


def _hosting(table: Any, where: str) -> HostingSettings:
    """``[hosting]`` and its tables, each value checked, and what the chosen host needs."""
    if not isinstance(table, Mapping):
        raise SettingsError(f"{where} must be a table")
    given = dict(table)
    subs = {k: given.pop(k) for k in HOSTING_TABLES if k in given}
    top = _typed(HostingSettings(), given, where, skip=HOSTING_TABLES)
    local = _section(LocalHostSettings(), subs.get("local", {}), f"{where[:-1]}.local]")
    _check_list(local.slots, str, f"{where[:-1]}.local] slots")
    _check_ports(local.ports, f"{where[:-1]}.local] ports")
    ssh = _ssh(subs.get("ssh", {}), f"{where[:-1]}.ssh]")
    chutes = _section(ChutesHostSettings(), subs.get("chutes", {}), f"{where[:-1]}.chutes]")
    cache = _section(ModelCacheSettings(), subs.get("cache", {}), f"{where[:-1]}.cache]")
    try:
        hosting = HostingSettings(**top, local=local, ssh=ssh, chutes=chutes, cache=cache)
    except ValueError as exc:
        raise SettingsError(f"{where}: {exc}") from exc
    if hosting.host == "local" and not local.command.strip():
        raise SettingsError(f'{where[:-1]}.local]: host = "local" needs an engine command')
    if hosting.host == "ssh":
        if not ssh.command.strip():
            raise SettingsError(f'{where[:-1]}.ssh]: host = "ssh" needs an engine command')
        if not ssh.boxes:
            raise SettingsError(f'{where[:-1]}.ssh]: host = "ssh" needs at least one box')
    return hosting


def _ssh(table: Any, where: str) -> SshHostSettings:
    if not isinstance(table, Mapping):
        raise SettingsError(f"{where} must be a table")
    given = dict(table)
    raw_boxes = given.pop("boxes", [])
    top = _typed(SshHostSettings(), given, where, skip={"boxes"})
    if not isinstance(raw_boxes, list):
        raise SettingsError(
            f"{where}: boxes must be a list of tables, got {type(raw_boxes).__name__}"
        )
    boxes = []
    for i, raw in enumerate(raw_boxes):
        at = f"{where} boxes[{i}]"
        box = _section(SshBoxSettings(), raw, at)
        if not box.host.strip():
            raise SettingsError(f"{at}: host must not be empty")
        if not 0 < box.port <= 65535:
            raise SettingsError(f"{at}: port must lie in [1, 65535], got {box.port}")
        _check_list(box.slots, str, f"{at} slots")
        boxes.append(box if box.name else replace(box, name=box.host))
    names = [b.name for b in boxes]
    if len(set(names)) != len(names):
        raise SettingsError(f"{where}: two boxes share a name")
    ssh = SshHostSettings(**top, boxes=tuple(boxes))
    _check_ports(ssh.ports, f"{where} ports")
    return ssh


def _check_list(values: list[Any], kind: type, where: str) -> None:
    if not values or any(not isinstance(v, kind) or isinstance(v, bool) for v in values):
        raise SettingsError(f"{where} must be a non-empty list of {kind.__name__}s")


def _check_ports(ports: list[Any], where: str) -> None:
    _check_list(ports, int, where)
    if len(ports) != 2 or not 0 < ports[0] < ports[1] <= 65536:
        raise SettingsError(f"{where} must be [start, stop] with 0 < start < stop <= 65536")


# Read by StaticModelEndpoints.from_config (the first three) and by the composition root.
INFERENCE_KEYS = frozenset({"gateway", "api_key", "routes", "proxy_from_environment"})


def _envs(
    raw: Any,
    id_ranges: Mapping[str, tuple[int, int]],
    optional: Mapping[str, tuple[int, int]],
    source: str,
) -> tuple[list[EnvConfig], dict[str, EnvServiceSettings]]:
    if not isinstance(raw, Mapping):
        raise SettingsError(f"{source}: [envs] must be a table of env tables")
    installed = {**optional, **id_ranges}
    # Only the types of its values matter: each env gets its own defaults below.
    prototype = EnvConfig("-", 1, (0, 2))
    envs = []
    services = {}
    for name in list(raw) or list(id_ranges):
        where = f"{source} [envs.{name}]"
        given = raw.get(name, {})
        if not isinstance(given, Mapping):
            raise SettingsError(f"{where} must be a table")
        try:
            given, service = split_service(given, where)
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        if name not in installed and service is None:
            raise SettingsError(
                f"{source}: env {name!r} is not installed (known: {', '.join(installed)}); "
                "an env served elsewhere needs url and id_range"
            )
        if name not in installed and "id_range" not in given:
            raise SettingsError(f"{where}: an env served elsewhere needs its id_range")
        id_range = given.pop("id_range", list(installed.get(name, (0, 0))))  # checked below
        table = _typed(prototype, given, where, skip={"name", "id_range"})
        table.setdefault("sampling_count", DEFAULT_SAMPLING_COUNTS.get(name, 200))
        table["id_range"] = id_range
        try:
            env = EnvConfig.from_dict({"name": name, **table})
        except ValueError as exc:
            raise SettingsError(f"{where}: {exc}") from exc
        lo, hi = env.id_range
        if name in installed and not installed[name][0] <= lo < hi <= installed[name][1]:
            raise SettingsError(
                f"{where}: id_range must lie within {list(installed[name])}, got {[lo, hi]}"
            )
        envs.append(env)
        if service is not None:
            services[name] = service
    return envs, services


def _inference(table: Any, where: str) -> dict[str, Any]:
    """The ``[inference]`` table as given, once the endpoints it names are known to be sound."""
    if not isinstance(table, Mapping):
        raise SettingsError(f"{where} must be a table")
    bad = set(table) - INFERENCE_KEYS
    if bad:
        raise SettingsError(f"{where}: unknown key(s) {sorted(bad)}")
    if not isinstance(table.get("proxy_from_environment", False), bool):
        raise SettingsError(f"{where}: proxy_from_environment must be true or false")
    try:
        read_endpoint_table(table)  # the one reader of gateway, key and routes
    except ValueError as exc:
        raise SettingsError(f"{where}: {exc}") from exc
    return dict(table)


def _section(defaults: Any, table: Any, where: str) -> Any:
    """A settings record: ``defaults`` with the values of ``table``, each checked."""
    values = _typed(defaults, table, where)
    try:
        return replace(defaults, **values)
    except ValueError as exc:  # a value outside its range, named by its field's rule
        raise SettingsError(f"{where}: {exc}") from exc


def _typed(prototype: Any, table: Any, where: str, skip: Set[str] = frozenset()) -> dict[str, Any]:
    """The values of ``table``, each of the type ``prototype`` has there (ints pass as floats).

    Keys of ``prototype`` in ``skip`` are not settable from the file.
    """
    if not isinstance(table, Mapping):
        raise SettingsError(f"{where} must be a table")
    known = {f.name for f in fields(prototype)} - skip
    bad = set(table) - known
    if bad:
        raise SettingsError(f"{where}: unknown key(s) {sorted(bad)}")
    values = {}
    for key, value in table.items():
        expected = type(getattr(prototype, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise SettingsError(
                f"{where}: {key} must be {expected.__name__}, got {type(value).__name__}"
            )
        values[key] = value
    return values


#: Keys whose values are secrets wherever they appear (``api_key`` of a route, of a gateway).
SECRET_KEY_ENDINGS = ("api_key", "password", "secret", "token")


def _redact(table: Mapping[str, Any]) -> dict[str, Any]:
    """Hide what must not be printed: the values of keys named like keys, URL passwords."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, Mapping):
            out[k] = _redact(v)
        elif k.lower().endswith(SECRET_KEY_ENDINGS) and v:
            out[k] = "***"
        elif isinstance(v, str):
            out[k] = redact_url(v)
        else:
            out[k] = v
    return out


def redact_url(text: str) -> str:
    """``text`` with the password of a ``scheme://user:password@host`` URL shown as ``***``."""
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
