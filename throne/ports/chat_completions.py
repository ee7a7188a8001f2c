"""The `ChatCompletions` port: ask a model served at an endpoint for one chat completion, and
what goes into that call and comes out of it.

A call never raises for anything the far side does: it returns either a `Completion` or a
`Failure` whose ``kind`` says whose fault it was. What a failure means for a miner (a zero, or a
release of the challenger) is the contest's rule, not the port's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from throne.ports.model_endpoints import Endpoint

FailureKind = Literal["model_error", "infra_error"]


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request. ``model`` is the name the endpoint serves it under."""

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None

    @classmethod
    def single(
        cls,
        model: str,
        prompt: str,
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> ChatRequest:
        """A request carrying one user message, the way environments ask."""
        return cls(model, (Message("user", prompt),), temperature, max_tokens, seed)

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.seed is not None:
            body["seed"] = self.seed
        return body


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Completion:
    """The model's answer. ``latency`` covers the whole call, retries included (seconds)."""

    text: str
    usage: Usage | None
    latency: float
    attempts: int
    kind: Literal["ok"] = "ok"


@dataclass(frozen=True)
class Failure:
    """A call that produced no usable answer.

    ``model_error``: the endpoint answered, and the answer is unusable as the model's answer
    (a refusal of this model such as 400/404, a malformed or oversized body, no text).
    ``infra_error``: no answer could be obtained (connection, deadline, 429/5xx after retries,
    credentials refused, circuit open).
    """

    kind: FailureKind
    reason: str
    latency: float
    attempts: int
    status: int | None = None


Result = Completion | Failure


class ChatCompletions(Protocol):
    """The inference port: ask an endpoint for one chat completion. Adapter:
    `AiohttpChatCompletions` (aiohttp, bounded, with retries and a circuit breaker)."""

    async def complete(self, endpoint: Endpoint, request: ChatRequest) -> Result:
        """A `Completion`, or a `Failure` classified as ``model_error`` or ``infra_error``;
        never raises for what the endpoint does (cancellation still propagates)."""
        ...

    def healthy(self, endpoint: Endpoint) -> bool:
        """False while the endpoint's circuit is open."""
        ...
