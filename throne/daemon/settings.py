"""``throne.toml``: every key has a default, so an empty file (or none) is a valid setup.

Sections: ``[validator]`` (where the log and the chain are, weight cadence), ``[contest]`` (the
rules, recorded in the log), ``[envs.NAME]`` (one table per evaluation env), ``[sampler]`` and
``[inference]`` (how miners' models are reached), ``[model_hub]`` (where model hashes come from,
for the copy rule). `throne config show` prints the effective values.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from throne.domain.contest.config import ContestConfig, EnvConfig

DEFAULT_SAMPLING_COUNTS = {"SAT": 200, "ABD": 200, "DED": 200}


class SettingsError(ValueError):
    """The configuration file is unreadable or has a bad key or value."""


@dataclass(frozen=True)
class ValidatorSettings:
    #: the event log: a SQLite path or URL, or postgresql://...; "" = $THRONE_DB or the default
    db: str = ""
    netuid: int = 120
    #: local (the embedded chain in chain_db), finney, test, or a ws(s):// URL
    chain: str = "local"
    chain_db: str = ".throne/chain.db"
    #: the validator's hotkey on the local chain
    hotkey: str = "validator"
    wallet_name: str = "default"
    wallet_hotkey: str = "default"
    wallet_path: str = "~/.bittensor/wallets"
    data_dir: str = ".throne"
    #: the secret pool seeds derive from; "" = data_dir/pool-secret (created on first run)
    pool_secret_file: str = ""
    chain_timeout_seconds: float = 30.0
    #: submit weights every N blocks, once the rate limit allows
    weights_interval_blocks: int = 180
    version_key: int = 0
    #: how often the loops look for a new block
    poll_seconds: float = 2.0
    #: the read-only status API and /metrics; port 0 = off
    status_host: str = "127.0.0.1"
    status_port: int = 0


@dataclass(frozen=True)
class SamplerSettings:
    #: evaluations in flight at once
    concurrency: int = 16
    #: samples recorded per transaction
    batch_size: int = 32
    temperature: float = 0.0
    max_tokens: int = 0
    #: seconds for one chat completion, retries included
    request_timeout_seconds: float = 600.0
    retries: int = 2
    #: a claim on a work item lapses unless renewed within this long (a dead worker's work
    #: returns to the pool after it)
    claim_ttl_seconds: float = 60.0
    #: how this sampler names itself in claims; "" = host:daemon for `throne run` on SQLite
    #: (its log's only daemon: restarted, it takes its claims back at once), host:daemon:pid on
    #: PostgreSQL (a standby beside it must not share its claims), host:worker:pid for workers
    worker_name: str = ""


MODEL_HUB_KINDS = ("auto", "huggingface", "none")


@dataclass(frozen=True)
class ModelHubSettings:
    #: auto (Hugging Face on a bittensor network, none on the local chain), huggingface, none
    kind: str = "auto"
    endpoint: str = "https://huggingface.co"
    #: the environment variable holding a hub access token; unset or empty = no token
    token_env: str = "HF_TOKEN"
    #: seconds for one request to the hub
    timeout_seconds: float = 10.0
    #: seconds one chain sync may spend on the hub; the rest is looked up on later syncs
    budget_seconds: float = 20.0
    #: a failed lookup is tried again after this long (a missing repo or revision: 6x longer)
    retry_after_failure_seconds: float = 600.0

    def resolved_kind(self, chain: str) -> str:
        """``huggingface`` or ``none``: what ``auto`` means on ``chain``."""
        if self.kind != "auto":
            return self.kind
        return "none" if chain == "local" else "huggingface"


@dataclass(frozen=True)
class Settings:
    validator: ValidatorSettings = field(default_factory=ValidatorSettings)
    contest: ContestConfig = field(default_factory=ContestConfig)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    #: `StaticModelEndpoints.from_config` table: gateway, api_key, routes
    inference: Mapping[str, Any] = field(default_factory=dict)
    model_hub: ModelHubSettings = field(default_factory=ModelHubSettings)

    def to_dict(self) -> dict[str, Any]:
        contest = self.contest.to_dict()
        envs = {e.pop("name"): e for e in contest.pop("envs")}
        contest.pop("netuid")
        return {
            "validator": asdict(self.validator),
            "contest": contest,
            "envs": envs,
            "sampler": asdict(self.sampler),
            "inference": _redact(dict(self.inference)),
            "model_hub": asdict(self.model_hub),
        }


def default_envs(id_ranges: Mapping[str, tuple[int, int]]) -> tuple[EnvConfig, ...]:
    return tuple(
        EnvConfig(name, DEFAULT_SAMPLING_COUNTS.get(name, 200), id_ranges[name])
        for name in id_ranges
    )


def load_settings(path: Path | None, id_ranges: Mapping[str, tuple[int, int]]) -> Settings:
    """Read ``path`` (None or a missing default file: all defaults).

    ``id_ranges`` are the installed environments' id ranges; an env table may narrow its
    range with ``id_range = [start, stop]`` but never name an env that is not installed.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    return settings_from_dict(raw, id_ranges, source=str(path or "defaults"))


def settings_from_dict(
    raw: Mapping[str, Any], id_ranges: Mapping[str, tuple[int, int]], source: str = "settings"
) -> Settings:
    unknown = set(raw) - {"validator", "contest", "envs", "sampler", "inference", "model_hub"}
    if unknown:
        raise SettingsError(f"{source}: unknown section(s) {sorted(unknown)}")
    validator = _section(ValidatorSettings, raw.get("validator", {}), f"{source} [validator]")
    sampler = _section(SamplerSettings, raw.get("sampler", {}), f"{source} [sampler]")
    envs_raw = raw.get("envs", {})
    if not isinstance(envs_raw, Mapping):
        raise SettingsError(f"{source}: [envs] must be a table of env tables")
    names = list(envs_raw) or list(id_ranges)
    envs = []
    for name in names:
        if name not in id_ranges:
            raise SettingsError(
                f"{source}: env {name!r} is not installed (known: {', '.join(id_ranges)})"
            )
        table = dict(envs_raw.get(name, {}))
        table.setdefault("sampling_count", DEFAULT_SAMPLING_COUNTS.get(name, 200))
        table.setdefault("id_range", list(id_ranges[name]))
        lo, hi = table["id_range"]
        if not (id_ranges[name][0] <= lo < hi <= id_ranges[name][1]):
            raise SettingsError(f"{source}: env {name} id_range outside {id_ranges[name]}")
        allowed = {f.name for f in fields(EnvConfig)} - {"name"}
        bad = set(table) - allowed
        if bad:
            raise SettingsError(f"{source}: [envs.{name}] unknown key(s) {sorted(bad)}")
        try:
            envs.append(EnvConfig.from_dict({"name": name, **table}))
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{source}: [envs.{name}]: {exc}") from exc
    contest_raw = dict(raw.get("contest", {}))
    allowed = {f.name for f in fields(ContestConfig)} - {"envs", "netuid"}
    bad = set(contest_raw) - allowed
    if bad:
        raise SettingsError(f"{source}: [contest] unknown key(s) {sorted(bad)}")
    try:
        contest = ContestConfig.from_dict(
            {**contest_raw, "netuid": validator.netuid, "envs": [e.to_dict() for e in envs]}
        )
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{source}: [contest]: {exc}") from exc
    inference = raw.get("inference", {})
    if not isinstance(inference, Mapping):
        raise SettingsError(f"{source}: [inference] must be a table")
    bad = set(inference) - INFERENCE_KEYS
    if bad:
        raise SettingsError(f"{source}: [inference] unknown key(s) {sorted(bad)}")
    if not isinstance(inference.get("proxy_from_environment", False), bool):
        raise SettingsError(f"{source}: [inference] proxy_from_environment must be true or false")
    model_hub = _model_hub(raw.get("model_hub", {}), f"{source} [model_hub]")
    return Settings(validator, contest, sampler, dict(inference), model_hub)


# Read by StaticModelEndpoints.from_config (the first three) and by the composition root.
INFERENCE_KEYS = frozenset({"gateway", "api_key", "routes", "proxy_from_environment"})


def _model_hub(table: Any, where: str) -> ModelHubSettings:
    hub: ModelHubSettings = _section(ModelHubSettings, table, where)
    if hub.kind not in MODEL_HUB_KINDS:
        raise SettingsError(f"{where}: kind must be one of {', '.join(MODEL_HUB_KINDS)}")
    if not hub.endpoint.startswith(("http://", "https://")):
        raise SettingsError(f"{where}: endpoint must be an http(s):// URL")
    if hub.timeout_seconds <= 0 or hub.budget_seconds <= 0:
        raise SettingsError(f"{where}: timeout_seconds and budget_seconds must be positive")
    if hub.retry_after_failure_seconds < 0:
        raise SettingsError(f"{where}: retry_after_failure_seconds must not be negative")
    return hub


def _section(cls: Any, table: Any, where: str) -> Any:
    if not isinstance(table, Mapping):
        raise SettingsError(f"{where} must be a table")
    known = {f.name: f for f in fields(cls)}
    bad = set(table) - set(known)
    if bad:
        raise SettingsError(f"{where}: unknown key(s) {sorted(bad)}")
    defaults = cls()
    values = {}
    for key, value in table.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise SettingsError(
                f"{where}: {key} must be {expected.__name__}, got {type(value).__name__}"
            )
        values[key] = value
    return replace(defaults, **values)


def _redact(table: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, Mapping):
            out[k] = _redact(dict(v))
        elif "key" in k.lower() and v:
            out[k] = "***"
        else:
            out[k] = v
    return out
