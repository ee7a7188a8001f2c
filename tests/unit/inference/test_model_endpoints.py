"""`StaticModelEndpoints`: where a committed (model, revision) is served."""

from __future__ import annotations

import pytest

from throne.adapters.inference import StaticModelEndpoints
from throne.ports.model_endpoints import Endpoint, UnknownModel


def test_a_revision_route_wins_over_a_model_route_and_the_gateway() -> None:
    endpoints = StaticModelEndpoints(
        {
            "org/m@abc": Endpoint("http://pinned/v1/", "m-abc"),
            "org/m": Endpoint("http://any/v1", "org/m"),
        },
        gateway="http://gateway/v1",
    )
    assert endpoints.resolve("org/m", "abc") == Endpoint("http://pinned/v1", "m-abc")
    assert endpoints.resolve("org/m", "other").base_url == "http://any/v1"
    assert endpoints.resolve("org/n", "x") == Endpoint("http://gateway/v1", "org/n")


def test_without_a_route_or_gateway_the_model_is_unknown() -> None:
    with pytest.raises(UnknownModel, match="org/m@abc"):
        StaticModelEndpoints({}).resolve("org/m", "abc")


def test_config_tables_build_routes_with_a_shared_key() -> None:
    endpoints = StaticModelEndpoints.from_config(
        {
            "api_key": "k",
            "routes": {
                "alice": "http://127.0.0.1:8001/v1",
                "bob@r2": {"base_url": "http://127.0.0.1:8002/v1", "model": "bob-served"},
            },
        }
    )
    alice = endpoints.resolve("alice", "r1")
    assert (alice.base_url, alice.model, alice.api_key) == (
        "http://127.0.0.1:8001/v1",
        "alice",
        "k",
    )
    bob = endpoints.resolve("bob", "r2")
    assert (bob.model, bob.api_key) == ("bob-served", "k")
    with pytest.raises(UnknownModel):
        endpoints.resolve("bob", "r1")


def test_a_route_without_a_base_url_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs a base_url"):
        StaticModelEndpoints.from_config({"routes": {"alice": {"model": "a"}}})
