"""throne's own environments behind the reference's environment protocol (`throne env serve`).

A starlette app answering ``GET /health``, ``GET /methods`` and ``POST /call`` for one env, so
that a validator speaking the protocol (the reference's, or throne's `RemoteEnv`) can use it as
it uses any environment service. A single-turn env offers ``evaluate``: the env asks the model
at ``base_url`` itself (`InProcessEnv`) and answers the score and the conversation. A
multi-turn env offers ``reset``, ``step``, ``state`` and ``stop`` over a table of episodes in
flight (`Episodes`), and the caller drives the model.

Statuses, so that a caller can tell whose fault a failure is without reading the text:

- 200 ``success``: a score (``evaluate``) or a step (the interactive methods);
- 200 ``failed`` ``"model_error: ..."``: the model failed the task (it counts as 0);
- 400 ``failed``: a body that is not a call, or arguments the method does not take;
- 404 ``failed``: a method this env does not offer, or an episode not in flight;
- 413 ``failed``: a body over `MAX_BODY_BYTES`;
- 500 ``failed`` ``"infra_error: env_failed: ..."``: the env broke (a bug, logged here);
- 502 ``failed`` ``"infra_error: ..."``: the model could not be reached, or the answer could
  not be scored here (the sandbox is down);
- 504 ``failed`` ``"infra_error: env_timeout: ..."``: no result within ``timeout`` +
  `CALL_GRACE_SECONDS` (the env was too busy or too slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from throne.adapters.envs.in_process import InProcessEnv
from throne.envs.base import Environment
from throne.envs.episodic import Episodes, EpisodicEnv, UnknownEpisode
from throne.envs.protocol import (
    CALL_GRACE_SECONDS,
    MAX_BODY_BYTES,
    Call,
    Evaluation,
    ProtocolError,
    Step,
    dump_answer,
    dump_failure,
    dump_methods,
    task_seed,
)
from throne.ports.chat_completions import ChatCompletions, ChatRequest, Failure, Result
from throne.ports.env_service import EvalRequest, Outcome, Scored
from throne.ports.model_endpoints import Endpoint

DEFAULT_CONCURRENCY = 8
log = logging.getLogger(__name__)


class OwnedClient(ChatCompletions, Protocol):
    """The inference client the app asks models through; it closes it when it shuts down."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes


class _Refused(Exception):
    """A call answered with ``status`` and ``failed``, ``error`` being the message."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class _BadArgument(ValueError):
    """An argument whose value the method cannot take (answered 400)."""


# -- the methods' signatures ---------------------------------------------------------------------
# /methods shows these, and each call's arguments are bound to them (positional ones in this
# order) before their values are checked. ``**eval_params`` takes the env's configured
# evaluation parameters, which these envs have no use for.


def _evaluate(
    task_id: int,
    seed: int,
    model: str,
    base_url: str,
    temperature: float | None = 0.0,
    timeout: float = 600.0,
    max_tokens: int | None = None,
    api_key: str | None = None,
    **eval_params: Any,
) -> None:
    """Ask the model at ``base_url`` this task, answer the score and the conversation."""


def _reset(task_id: int, seed: int | None = None, **eval_params: Any) -> None:
    """Start an episode; ``seed`` defaults to the protocol's seed of the task."""


def _step(episode_id: str, action: str) -> None:
    """Play the model's turn."""


def _state(episode_id: str) -> None:
    """The episode's last step, again."""


def _stop(episode_id: str) -> None:
    """End the episode; answers its last step."""


def _signature(stub: Callable[..., None]) -> inspect.Signature:
    signature = inspect.signature(stub, eval_str=True)
    return signature.replace(return_annotation=inspect.Signature.empty)


@dataclass(frozen=True)
class _Method:
    signature: inspect.Signature
    run: Callable[[dict[str, Any]], Awaitable[_Answer]]


# -- checking argument values --------------------------------------------------------------------


def _show(value: object) -> str:
    return " ".join(repr(value).split())[:60]


def _integer(args: dict[str, Any], name: str) -> int:
    value = args[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadArgument(f"{name} must be an integer, got {_show(value)}")
    return value


def _text(args: dict[str, Any], name: str) -> str:
    value = args[name]
    if not isinstance(value, str):
        raise _BadArgument(f"{name} must be a string, got {_show(value)}")
    return value


def _number(args: dict[str, Any], name: str) -> float:
    value = args[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _BadArgument(f"{name} must be a finite number, got {_show(value)}")
    return float(value)


def _task_id(args: dict[str, Any], id_range: tuple[int, int]) -> int:
    task_id = _integer(args, "task_id")
    start, stop = id_range
    if not start <= task_id < stop:
        raise _BadArgument(f"task_id {task_id} outside this env's ids [{start}, {stop})")
    return task_id


def _eval_request(env: Environment, args: dict[str, Any]) -> EvalRequest:
    task_id = _task_id(args, env.id_range)
    seed = _integer(args, "seed")
    model, base_url = _text(args, "model"), _text(args, "base_url")
    if not base_url.startswith(("http://", "https://")):
        raise _BadArgument(f"base_url must be an http(s) URL, got {_show(base_url)}")
    temperature = None if args["temperature"] is None else _number(args, "temperature")
    timeout = _number(args, "timeout")
    if timeout <= 0:
        raise _BadArgument(f"timeout must be positive, got {timeout:g}")
    max_tokens = None if args["max_tokens"] is None else _integer(args, "max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise _BadArgument(f"max_tokens must be at least 1, got {max_tokens}")
    api_key = None if args["api_key"] is None else _text(args, "api_key")
    endpoint = Endpoint(base_url, model, api_key)
    return EvalRequest(task_id, seed, endpoint, temperature, max_tokens, timeout)


# -- evaluate ------------------------------------------------------------------------------------


class _WithinSeconds:
    """The shared client, each completion given at most the call's own ``timeout`` (which the
    client's deadlines, fixed when it was built, do not know). Past it, the model could not
    be reached in time: an infrastructure failure, as the client classifies its own
    deadlines."""

    def __init__(self, client: ChatCompletions, seconds: float) -> None:
        self._client = client
        self._seconds = seconds

    async def complete(self, endpoint: Endpoint, request: ChatRequest) -> Result:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self._seconds):
                return await self._client.complete(endpoint, request)
        except TimeoutError:
            reason = f"no answer within the call's timeout of {self._seconds:g}s"
            return Failure("infra_error", reason, time.monotonic() - started, 1)

    def healthy(self, endpoint: Endpoint) -> bool:
        return self._client.healthy(endpoint)


def _outcome_answer(prompt: str, outcome: Outcome) -> _Answer:
    if isinstance(outcome, Scored):
        answer = outcome.transcript.decode("utf-8")
        conversation = (
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer},
        )
        result = Evaluation(
            outcome.score,
            conversation=conversation,
            prompt_tokens=outcome.usage.prompt_tokens,
            completion_tokens=outcome.usage.completion_tokens,
        )
        return _Answer(200, dump_answer(result.dump()))
    # The client's failures carry their kind as the reason and say why in the detail.
    why = [outcome.kind, outcome.reason, outcome.detail]
    error = ": ".join(dict.fromkeys(part for part in why if part))
    return _Answer(200 if outcome.kind == "model_error" else 502, dump_failure(error))


def _single_turn(env: Environment, client: ChatCompletions, concurrency: int) -> dict[str, _Method]:
    slots = asyncio.Semaphore(concurrency)

    async def evaluate(args: dict[str, Any]) -> _Answer:
        request = _eval_request(env, args)
        # The whole call, the wait for a slot included, as the reference's server bounds it.
        bound = request.timeout + CALL_GRACE_SECONDS
        try:
            async with asyncio.timeout(bound), slots:
                task = await asyncio.to_thread(env.task, request.task_id)
                asking = InProcessEnv(env, _WithinSeconds(client, request.timeout))
                outcome = await asking.evaluate(request)
        except TimeoutError:
            error = f"infra_error: env_timeout: no result within {bound:g}s"
            return _Answer(504, dump_failure(error))
        return _outcome_answer(task.prompt, outcome)

    return {"evaluate": _Method(_signature(_evaluate), evaluate)}


# -- the interactive interface -------------------------------------------------------------------


def _interactive(env: EpisodicEnv) -> dict[str, _Method]:
    episodes = Episodes(env)

    def stepped(step: Step) -> _Answer:
        return _Answer(200, dump_answer(step.dump()))

    async def reset(args: dict[str, Any]) -> _Answer:
        task_id = _task_id(args, env.id_range)
        seed = task_seed(env.name, task_id) if args["seed"] is None else _integer(args, "seed")
        return stepped(episodes.reset(task_id, seed))

    async def step(args: dict[str, Any]) -> _Answer:
        return stepped(episodes.step(_text(args, "episode_id"), _text(args, "action")))

    async def state(args: dict[str, Any]) -> _Answer:
        return stepped(episodes.state(_text(args, "episode_id")))

    async def stop(args: dict[str, Any]) -> _Answer:
        episode_id = _text(args, "episode_id")
        last = episodes.stop(episode_id)
        if last is None:
            raise UnknownEpisode(f"no episode {episode_id!r} in flight")
        return stepped(last)

    return {
        "reset": _Method(_signature(_reset), reset),
        "step": _Method(_signature(_step), step),
        "state": _Method(_signature(_state), state),
        "stop": _Method(_signature(_stop), stop),
    }


# -- the app -------------------------------------------------------------------------------------


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is longer than `MAX_BODY_BYTES` (read no further than that)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _json(answer: _Answer) -> Response:
    return Response(answer.body, answer.status, media_type="application/json")


def env_app(
    env: Environment | EpisodicEnv,
    *,
    client: OwnedClient | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Starlette:
    """The protocol's server for ``env``. A single-turn env asks models through ``client``
    (required) and evaluates at most ``concurrency`` tasks at once, the others waiting their
    turn within their bound. The app closes ``client`` when it shuts down: serve it with
    uvicorn's lifespan on (``BackgroundServer(..., lifespan=True)``)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if isinstance(env, Environment):
        if client is None:
            raise ValueError(f"{env.name} asks the model itself: it needs a client")
        methods = _single_turn(env, client, concurrency)
    else:
        methods = _interactive(env)
    listing = dump_methods({name: str(m.signature) for name, m in methods.items()})
    offered = ", ".join(methods)

    async def health(request: Request) -> Response:
        return _json(_Answer(200, b'{"status": "ok"}'))

    async def list_methods(request: Request) -> Response:
        return _json(_Answer(200, listing))

    async def call(request: Request) -> Response:
        return _json(await _answer(await _read_body(request)))

    async def _answer(body: bytes | None) -> _Answer:
        if body is None:
            return _Answer(413, dump_failure(f"body_too_large: at most {MAX_BODY_BYTES} bytes"))
        try:
            parsed = Call.parse(body)
            method = methods.get(parsed.method)
            if method is None:
                known = f"{env.name} offers {offered}"
                raise _Refused(404, f"unknown method {parsed.method!r}: {known}")
            try:
                bound = method.signature.bind(*parsed.args, **parsed.kwargs)
            except TypeError as exc:
                raise _Refused(400, f"bad arguments to {parsed.method}: {exc}") from None
            bound.apply_defaults()
            try:
                return await method.run(dict(bound.arguments))
            except _BadArgument as exc:
                raise _Refused(400, f"bad arguments to {parsed.method}: {exc}") from None
        except ProtocolError as exc:
            return _Answer(400, dump_failure(str(exc)))
        except _Refused as exc:
            return _Answer(exc.status, dump_failure(exc.error))
        except UnknownEpisode as exc:
            return _Answer(404, dump_failure(f"unknown_episode: {exc}"))
        except Exception as exc:
            log.exception("%s failed a call", env.name)
            error = " ".join(f"infra_error: env_failed: {type(exc).__name__}: {exc}".split())
            return _Answer(500, dump_failure(error[:300]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if client is not None:
                await client.aclose()

    routes = [
        Route("/call", call, methods=["POST"]),
        Route("/health", health),
        Route("/methods", list_methods),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
