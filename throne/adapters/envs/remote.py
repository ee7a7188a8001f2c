"""Environment services over HTTP, behind the `EnvService` port.

`RemoteEnv` is a single-turn service: one ``evaluate`` call, in which the env asks the model
itself and answers with the score and the conversation. `RemoteEpisodes` is an interactive
one: the validator plays the episode (`throne.envs.episode.play`) over the env's ``reset``,
``step`` and ``stop``, asking the model each turn. Both stand on one `EnvProtocolClient` per
env, and ask ``/methods`` once before their first call, so that a service of the wrong kind
fails every call at once, as the infrastructure error it is.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from types import MappingProxyType

from throne.adapters.envs.transport import EnvProtocolClient
from throne.envs.episode import TurnFailed, Turns, play, transcript_bytes
from throne.envs.protocol import EVALUATE, Evaluation, ProtocolError, Step
from throne.ports.chat_completions import ChatCompletions
from throne.ports.env_service import EnvService, EvalRequest, Outcome, Scored, Unscored, Usage

#: Keys of ``evaluate``'s kwargs that name the task and the model: configured parameters
#: cannot replace them.
IDENTITY_KWARGS = frozenset({"task_id", "seed", "model", "base_url", "api_key"})
#: How long ending an episode may take: the score is known by then.
STOP_TIMEOUT_SECONDS = 5.0
_NO_PARAMS: Mapping[str, object] = MappingProxyType({})


def evaluate_kwargs(
    request: EvalRequest, eval_params: Mapping[str, object] = _NO_PARAMS
) -> dict[str, object]:
    """The keyword arguments of ``evaluate`` for ``request``: the task, the model and its
    endpoint, the sampling options, then the env's configured parameters and the request's
    own (the request's win), except that neither replaces the task or the model."""
    kwargs: dict[str, object] = {}
    for params in (eval_params, request.params):
        kwargs.update((k, v) for k, v in params.items() if k not in IDENTITY_KWARGS)
    kwargs.update(
        task_id=request.task_id,
        seed=request.seed,
        model=request.endpoint.model,
        base_url=request.endpoint.base_url,
    )
    if request.endpoint.api_key:
        kwargs["api_key"] = request.endpoint.api_key
    kwargs.setdefault("timeout", request.timeout)
    if request.temperature is not None:
        kwargs.setdefault("temperature", request.temperature)
    if request.max_tokens is not None:
        kwargs.setdefault("max_tokens", request.max_tokens)
    return kwargs


def _call_timeout(kwargs: Mapping[str, object], default: float) -> float:
    """The timeout the env was told, which its server bounds the call by; ``default`` when the
    configured one is not a number of seconds."""
    told = kwargs.get("timeout")
    if isinstance(told, bool) or not isinstance(told, int | float):
        return default
    return float(told) if math.isfinite(told) and told >= 0 else default


def _checked_range(score_range: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(x) for x in score_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"score_range must be two finite numbers, low < high: {score_range!r}")
    return lo, hi


def _unscored(failure: TurnFailed, latency: float) -> Unscored:
    return Unscored(failure.kind, failure.reason, latency, b"", failure.detail)


class RemoteEnv(EnvService):
    """A single-turn env service: ``evaluate`` runs the task, model call included."""

    def __init__(
        self,
        name: str,
        client: EnvProtocolClient,
        *,
        score_range: tuple[float, float] = (0.0, 1.0),
        eval_params: Mapping[str, object] = _NO_PARAMS,
    ) -> None:
        self._name = name
        self.client = client
        self.score_range = _checked_range(score_range)
        self.eval_params: Mapping[str, object] = MappingProxyType(dict(eval_params))

    @property
    def name(self) -> str:
        return self._name

    async def evaluate(self, request: EvalRequest) -> Outcome:
        offered = await _offering(self.client, self._name, {EVALUATE}, "env_lacks_evaluate")
        if isinstance(offered, Unscored):
            return offered
        kwargs = evaluate_kwargs(request, self.eval_params)
        started = time.monotonic()
        try:
            result = await self.client.call(
                EVALUATE, kwargs, _call_timeout(kwargs, request.timeout)
            )
            evaluation = Evaluation.parse(result, self.score_range)
        except TurnFailed as exc:
            return _unscored(exc, time.monotonic() - started)
        except ProtocolError as exc:
            return Unscored("model_error", exc.reason, time.monotonic() - started, b"", exc.detail)
        latency = time.monotonic() - started
        conversation = list(evaluation.conversation)
        detail = evaluation.error
        if not evaluation.success and not detail:
            detail = "the env reports success: false"
        return Scored(
            evaluation.score,
            latency,
            Usage(evaluation.prompt_tokens, evaluation.completion_tokens),
            transcript_bytes(conversation) if conversation else b"",
            detail,
        )

    async def aclose(self) -> None:
        await self.client.aclose()


class _RemoteTurns(Turns):
    """`Turns` over an interactive service's ``reset``, ``step`` and ``stop``, for one
    episode whose calls are each bounded by ``timeout``."""

    def __init__(
        self,
        client: EnvProtocolClient,
        score_range: tuple[float, float],
        timeout: float,
        *,
        stops: bool,
    ) -> None:
        self._client = client
        self._range = score_range
        self._timeout = timeout
        self._stops = stops

    async def reset(self, task_id: int, seed: int) -> Step:
        try:
            return await self._step("reset", {"task_id": task_id, "seed": seed})
        except TurnFailed as exc:
            # Before the model's first turn, whatever fails is the env's doing alone.
            raise TurnFailed("infra_error", exc.reason, exc.detail) from None

    async def step(self, episode_id: str, action: str) -> Step:
        return await self._step("step", {"episode_id": episode_id, "action": action})

    async def stop(self, episode_id: str) -> None:
        if self._stops:
            await self._client.call("stop", {"episode_id": episode_id}, STOP_TIMEOUT_SECONDS)

    async def _step(self, method: str, kwargs: dict[str, object]) -> Step:
        result = await self._client.call(method, kwargs, self._timeout)
        try:
            return Step.parse(result, self._range)
        except ProtocolError as exc:
            raise TurnFailed("model_error", exc.reason, exc.detail) from None


class RemoteEpisodes(EnvService):
    """An interactive env service, its episodes played by the validator, which asks the model
    at the request's endpoint through ``chat`` each turn. The whole episode is bounded by the
    request's timeout; ``max_turns`` ends one the env never ends."""

    def __init__(
        self,
        name: str,
        client: EnvProtocolClient,
        chat: ChatCompletions,
        *,
        max_turns: int = 30,
        score_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be at least 1, not {max_turns}")
        self._name = name
        self.client = client
        self._chat = chat
        self.max_turns = max_turns
        self.score_range = _checked_range(score_range)

    @property
    def name(self) -> str:
        return self._name

    async def evaluate(self, request: EvalRequest) -> Outcome:
        needed = {"reset", "step"}
        offered = await _offering(self.client, self._name, needed, "env_lacks_reset_step")
        if isinstance(offered, Unscored):
            return offered
        turns = _RemoteTurns(
            self.client, self.score_range, request.timeout, stops="stop" in offered
        )
        started = time.monotonic()
        deadline = asyncio.timeout(request.timeout)
        try:
            async with deadline:
                return await play(turns, self._chat, request, max_turns=self.max_turns)
        except TimeoutError:
            if not deadline.expired():
                raise
            detail = f"the episode took over {request.timeout:g} s"
            return Unscored("infra_error", "env_timeout", time.monotonic() - started, b"", detail)

    async def aclose(self) -> None:
        """Close the env's connections; the chat client is the caller's, and stays open."""
        await self.client.aclose()


async def _offering(
    client: EnvProtocolClient, name: str, needed: set[str], reason: str
) -> frozenset[str] | Unscored:
    """The methods the env offers, or the infra error of an env that offers too little (named
    ``reason``) or whose list cannot be read."""
    started = time.monotonic()
    try:
        offered = await client.methods()
    except TurnFailed as exc:
        return _unscored(exc, time.monotonic() - started)
    if not needed <= offered:
        detail = f"{name} offers {', '.join(sorted(offered)) or 'nothing'}"
        return Unscored("infra_error", reason, 0.0, b"", detail)
    return offered
