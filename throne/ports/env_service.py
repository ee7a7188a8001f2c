"""The `EnvService` port: an evaluation environment that asks the miner's model itself.

This is how the sampler sees every environment. Given a task id, a seed and the endpoint that
serves the miner's model, the service runs the task to its end (one question for a single-turn
env, the whole episode for a multi-turn one) and answers with the score and the conversation.
throne's own environments run in-process behind it (`InProcessEnv`, `InProcessEpisodes`);
services that speak the reference's environment protocol run behind it over HTTP
(`RemoteEnv`, `RemoteEpisodes`).

A call never raises for anything the environment or the model does: it returns `Scored`, or
`Unscored` whose ``kind`` says whose fault it was, under the same rule as the inference port's
failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from throne.ports.model_endpoints import Endpoint

UnscoredKind = Literal["model_error", "infra_error"]


@dataclass(frozen=True)
class EvalRequest:
    """One task for one model.

    ``seed`` is the protocol's 32-bit seed of ``(env, task_id)`` (`throne.envs.protocol.task_seed`).
    ``timeout`` bounds the whole evaluation, in seconds; ``params`` are the env's configured
    evaluation parameters, passed through to a remote env as they are.
    """

    task_id: int
    seed: int
    endpoint: Endpoint
    temperature: float | None = 0.0
    max_tokens: int | None = None
    timeout: float = 600.0
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Scored:
    """The task was run to its end. ``transcript`` is the conversation as UTF-8 JSON (what the
    model was shown and said), or the model's answer for a single-turn env run in-process."""

    score: float
    latency: float
    usage: Usage
    transcript: bytes
    detail: str = ""
    kind: Literal["ok"] = "ok"


@dataclass(frozen=True)
class Unscored:
    """No score. ``model_error``: the model (or the env on the model's behalf) failed the task,
    which counts as 0. ``infra_error``: the env or the model could not be reached, which is not a
    score. ``reason`` is a short name (``env_timeout``, ``score_not_finite``, ...)."""

    kind: UnscoredKind
    reason: str
    latency: float = 0.0
    transcript: bytes = b""
    detail: str = ""


Outcome = Scored | Unscored


class EnvService(Protocol):
    """An environment, in-process or remote, that evaluates a model on one task at a time."""

    @property
    def name(self) -> str: ...

    async def evaluate(self, request: EvalRequest) -> Outcome:
        """Run the task; never raises for what the env or the model does (cancellation still
        propagates)."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads; the service is not used afterwards."""
        ...
