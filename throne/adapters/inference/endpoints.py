"""`StaticModelEndpoints`: the `ModelEndpoints` adapter of a fixed map and an optional gateway."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from throne.domain.field_rules import is_http_url
from throne.ports.model_endpoints import Endpoint, ModelEndpoints, UnknownModel


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
        """Build from a config table (see `read_endpoint_table`)."""
        table = read_endpoint_table(config)
        return cls(table.routes, gateway=table.gateway, api_key=table.api_key)

    def resolve(self, model: str, revision: str) -> Endpoint:
        route = self._routes.get(f"{model}@{revision}") or self._routes.get(model)
        if route is not None:
            return route
        if self._gateway is not None:
            return Endpoint(self._gateway, model, self._api_key)
        raise UnknownModel(f"no endpoint serves {model}@{revision}")


@dataclass(frozen=True)
class EndpointTable:
    """An ``[inference]`` table as read: its routes, its gateway and the key they share."""

    routes: Mapping[str, Endpoint]
    gateway: str | None
    api_key: str | None


def read_endpoint_table(config: Mapping[str, object]) -> EndpointTable:
    """Read a config table: ``gateway``, ``api_key`` and ``routes`` whose values are either a
    base URL or a table with ``base_url``, optional ``model`` and ``api_key``; a value that is
    not one is a `ValueError` naming it."""
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
    return EndpointTable(routes, gateway, api_key)


def _optional_str(table: Mapping[str, object], key: str) -> str | None:
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"inference {key} must be a string")
