"""Where a miner's model is served: the `ModelEndpoints` port and its static adapter.

A miner commits ``(model, revision)`` on chain; the validator needs a base URL that speaks
``/chat/completions`` and the name the model goes by there. Today that is a fixed map or one
gateway whose model name routes the call (`StaticModelEndpoints`); hosting models on rented
GPUs is a later adapter behind the same port.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from throne.domain.field_rules import is_http_url


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible base URL (ending before ``/chat/completions``, usually in ``/v1``)
    and the model name to send there. The key is kept out of ``repr``."""

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def key(self) -> str:
        """Stable identity for limits, the circuit breaker and health reports."""
        return f"{self.base_url}#{self.model}"


class UnknownModel(LookupError):
    """No endpoint serves this (model, revision)."""


class ModelEndpoints(ABC):
    """Maps a miner's committed ``(model, revision)`` to the endpoint that serves it."""

    @abstractmethod
    def resolve(self, model: str, revision: str) -> Endpoint:
        """The endpoint for this model; raises `UnknownModel` when none serves it."""


class StaticModelEndpoints(ModelEndpoints):
    """A fixed map, with an optional gateway as the fallback.

    ``routes`` keys are ``"model@revision"`` (that revision only) or ``"model"`` (any
    revision). Without a route, a ``gateway`` base URL serves every model under its own name,
    the way hosted gateways route by the ``model`` field.
    """

    def __init__(
        self,
        routes: Mapping[str, Endpoint] | None = None,
        *,
        gateway: str | None = None,
        api_key: str | None = None,
    ) -> None:
        self._routes = dict(routes or {})
        self._gateway = gateway
        self._api_key = api_key

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> StaticModelEndpoints:
        """Build from a config table: ``gateway``, ``api_key`` and ``routes`` whose values are
        either a base URL or a table with ``base_url``, optional ``model`` and ``api_key``."""
        api_key = _optional_str(config, "api_key")
        routes: dict[str, Endpoint] = {}
        raw_routes = config.get("routes", {})
        if not isinstance(raw_routes, Mapping):
            raise ValueError(
                f'routes must be a table of "model" = "http://host/v1", got {raw_routes!r}'
            )
        for name, target in raw_routes.items():
            model = str(name).split("@", 1)[0]
            if isinstance(target, str):
                base_url = target
                route = Endpoint(target, model, api_key)
            elif isinstance(target, Mapping) and isinstance(target.get("base_url"), str):
                base_url = target["base_url"]
                route = Endpoint(
                    base_url,
                    str(target.get("model", model)),
                    _optional_str(target, "api_key") or api_key,
                )
            else:
                raise ValueError(f"inference route {name!r} needs a base_url")
            if not is_http_url(base_url):
                raise ValueError(
                    f"route {name!r}: base_url must be an http(s):// URL, got {base_url!r}"
                )
            routes[str(name)] = route
        gateway = _optional_str(config, "gateway")
        if gateway is not None and not is_http_url(gateway):
            raise ValueError(f"gateway must be an http(s):// URL, got {gateway!r}")
        return cls(routes, gateway=gateway, api_key=api_key)

    def resolve(self, model: str, revision: str) -> Endpoint:
        route = self._routes.get(f"{model}@{revision}") or self._routes.get(model)
        if route is not None:
            return route
        if self._gateway is not None:
            return Endpoint(self._gateway, model, self._api_key)
        raise UnknownModel(f"no endpoint serves {model}@{revision}")


def _optional_str(table: Mapping[str, object], key: str) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"inference {key} must be a string")
