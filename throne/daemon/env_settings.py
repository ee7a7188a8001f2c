"""The service keys of an ``[envs.NAME]`` table: where an env runs when it runs remotely.

An env table holds two kinds of keys. The contest's (``sampling_count``, ``scoring``, margins,
``id_range``) are rules, recorded in the log with the configuration. These are the validator's
own: the URL of the service that runs the env's tasks, how calls are spread over its replicas,
and how each call is bounded. They change nothing a verdict depends on, so they stay out of the
log; an env without ``url``/``urls`` runs in-process.

    [envs.SAT]
    url = "http://10.0.0.5:8000"            # or urls = ["http://a:8000", "http://b:8000"]
    load_balance = "round_robin"            # or "random"
    concurrency = 8                         # calls in flight per replica
    timeout = 600                           # seconds per evaluation (+10 s grace per call)
    interface = "evaluate"                  # or "interactive" (reset/step/stop, validator-driven)
    max_turns = 30                          # interactive only
    score_range = [0.0, 1.0]                # a score outside it is a named model error
    eval_params = { task_type = "x" }       # passed to the env's evaluate as they are
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

SERVICE_KEYS = frozenset(
    {
        "url",
        "urls",
        "load_balance",
        "concurrency",
        "timeout",
        "retries",
        "interface",
        "max_turns",
        "score_range",
        "eval_params",
    }
)
LOAD_BALANCING = ("round_robin", "random")
INTERFACES = ("evaluate", "interactive")


@dataclass(frozen=True)
class EnvServiceSettings:
    """Where and how one env is called. ``urls`` is never empty."""

    urls: tuple[str, ...]
    load_balance: Literal["round_robin", "random"] = "round_robin"
    concurrency: int = 8
    timeout: float = 600.0
    retries: int = 1
    interface: Literal["evaluate", "interactive"] = "evaluate"
    max_turns: int = 30
    score_range: tuple[float, float] = (0.0, 1.0)
    eval_params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "urls": list(self.urls),
            "load_balance": self.load_balance,
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "retries": self.retries,
            "interface": self.interface,
            "max_turns": self.max_turns,
            "score_range": list(self.score_range),
            "eval_params": dict(self.eval_params),
        }


def split_service(
    table: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], EnvServiceSettings | None]:
    """The contest's keys of an env table, and its service settings (None: in-process).
    Raises ValueError naming the key and what it must be."""
    contest = {k: v for k, v in table.items() if k not in SERVICE_KEYS}
    given = {k: v for k, v in table.items() if k in SERVICE_KEYS}
    if not given:
        return contest, None
    if "url" in given and "urls" in given:
        raise ValueError(f"{where}: give url or urls, not both")
    urls = [given.pop("url")] if "url" in given else given.pop("urls", None)
    if urls is None:
        raise ValueError(f"{where}: {sorted(given)} need the env's url (or urls)")
    if not isinstance(urls, list) or not urls:
        raise ValueError(f"{where}: urls must be a non-empty list of URLs")
    for url in urls:
        _check_url(url, where)
    values: dict[str, Any] = {"urls": tuple(u.rstrip("/") for u in urls)}
    for key, value in given.items():
        values[key] = _value(key, value, where)
    return contest, EnvServiceSettings(**values)


def _check_url(url: object, where: str) -> None:
    if not isinstance(url, str):
        raise ValueError(f"{where}: a url must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{where}: url must be http(s)://HOST[:PORT][/PATH], got {url!r}")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value(key: str, value: Any, where: str) -> Any:
    """One service key's value, checked."""
    if key == "load_balance" and value not in LOAD_BALANCING:
        raise ValueError(f"{where}: load_balance must be one of {list(LOAD_BALANCING)}")
    if key == "interface" and value not in INTERFACES:
        raise ValueError(f"{where}: interface must be one of {list(INTERFACES)}")
    if key in ("concurrency", "max_turns") and not (
        isinstance(value, int) and not isinstance(value, bool) and value >= 1
    ):
        raise ValueError(f"{where}: {key} must be an integer of at least 1")
    if key == "retries" and not (
        isinstance(value, int) and not isinstance(value, bool) and value >= 0
    ):
        raise ValueError(f"{where}: retries must be an integer of at least 0")
    if key == "timeout":
        if not _number(value) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{where}: timeout must be a positive number of seconds")
        return float(value)
    if key == "score_range":
        ok = isinstance(value, list) and len(value) == 2 and all(map(_number, value))
        if not ok or not math.isfinite(value[0]) or not value[0] < value[1] < math.inf:
            raise ValueError(f"{where}: score_range must be [low, high] with low < high")
        return (float(value[0]), float(value[1]))
    if key == "eval_params" and not isinstance(value, Mapping):
        raise ValueError(f"{where}: eval_params must be a table")
    if key == "eval_params":
        return dict(value)
    return value
