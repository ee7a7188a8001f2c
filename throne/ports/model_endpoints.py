"""The `ModelEndpoints` port: where a miner's committed model is served.

A miner commits ``(model, revision)`` on chain; the validator needs a base URL that speaks
``/chat/completions`` and the name the model goes by there. Today that is a fixed map or one
gateway whose model name routes the call (`StaticModelEndpoints`); hosting models on rented
GPUs is `throne.daemon.hosting`, which serves the endpoints of the deployments it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


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


class NotDeployed(UnknownModel):
    """The model is to be served, but is not ready now (deploying, or being replaced): its
    work stays pending, instead of failing as an infrastructure error."""


class ModelEndpoints(Protocol):
    """Maps a miner's committed ``(model, revision)`` to the endpoint that serves it."""

    def resolve(self, model: str, revision: str) -> Endpoint:
        """The endpoint for this model; raises `UnknownModel` when none serves it, and
        `NotDeployed` when one will but is not ready yet."""
