"""The miner's API: throne's environments, and how a model does on them, from Python.

    import asyncio
    from throne import sdk

    for env in sdk.environments():
        print(env.name, env.version, env.id_range, env.turns)
    print(sdk.task("SAT", 7).prompt)
    results = asyncio.run(
        sdk.env("SAT").evaluate(base_url="http://127.0.0.1:8000/v1", model="m", task_ids=range(10))
    )

An env is throne's own (run here, exactly as the validator runs it) or, with ``env_url``, any
service that speaks the environment protocol (docs/envs.md): the same records either way.
`evaluate` is async, reports each task as it finishes (``on_result``), and returns plain
records (`TaskScore`). The validator sends the same seed for a task (`task_seed`), so a model
served deterministically scores here what it scores in the contest. See docs/sdk.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from throne.adapters.inference.env_run import TaskScore
from throne.envs.protocol import task_seed

__all__ = ["Env", "EnvInfo", "TaskScore", "TaskView", "env", "environments", "task", "task_seed"]


@dataclass(frozen=True)
class EnvInfo:
    """An installed env: its task ids lie in ``[id_range[0], id_range[1])``; ``turns`` is
    ``"single"`` for one question per task, ``"multi"`` for an episode."""

    name: str
    version: str
    id_range: tuple[int, int]
    turns: Literal["single", "multi"]


@dataclass(frozen=True)
class TaskView:
    """What the model is shown first for a task (a multi-turn env's first observation)."""

    env: str
    version: str
    task_id: int
    prompt: str


class UnknownEnv(LookupError):
    """No installed env has this name (and no ``env_url`` was given)."""


def environments() -> list[EnvInfo]:
    """throne's installed envs: the contest's defaults, then the optional multi-turn ones."""
    from throne.envs.registry import environments as single
    from throne.envs.registry import episodic_environments

    found = [EnvInfo(e.name, e.version, e.id_range, "single") for e in single().values()]
    found += [
        EnvInfo(e.name, e.version, e.id_range, "multi") for e in episodic_environments().values()
    ]
    return found


def task(env_name: str, task_id: int) -> TaskView:
    """The task's prompt; raises `UnknownEnv`, or `TaskIdOutOfRange` outside the env's range."""
    from throne.envs.registry import environments as single
    from throne.envs.registry import episodic_environments

    singles = single()
    if env_name in singles:
        t = singles[env_name].task(task_id)
        return TaskView(t.env, t.version, t.task_id, t.prompt)
    episodic = episodic_environments()
    if env_name in episodic:
        e = episodic[env_name]
        first = e.episode(task_id, task_seed(env_name, task_id)).first_observation
        return TaskView(e.name, e.version, task_id, first)
    raise UnknownEnv(_unknown(env_name))


def _unknown(name: str) -> str:
    known = ", ".join(e.name for e in environments())
    return f"unknown environment {name!r} (installed: {known}); give env_url for a remote one"


@dataclass(frozen=True)
class Env:
    """An env to evaluate models on: throne's own by ``name``, or the service at ``env_url``.

    For a remote env, ``interface`` says how it is driven: ``"evaluate"`` (the env runs the
    task, calling the model itself) or ``"interactive"`` (reset/step/stop, this side driving
    the turns, at most ``max_turns``); ``eval_params`` go to the env as they are.
    """

    name: str
    env_url: str | None = None
    interface: Literal["evaluate", "interactive"] = "evaluate"
    #: None: the env's own limit (in-process), 30 (remote)
    max_turns: int | None = None
    score_range: tuple[float, float] = (0.0, 1.0)
    eval_params: Mapping[str, object] = field(default_factory=dict)

    @property
    def info(self) -> EnvInfo | None:
        """The installed env of this name, None for a remote one."""
        if self.env_url is not None:
            return None
        return next((e for e in environments() if e.name == self.name), None)

    async def evaluate(
        self,
        *,
        base_url: str,
        model: str,
        task_ids: Iterable[int],
        temperature: float | None = 0.0,
        max_tokens: int | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        retries: int = 0,
        proxy_from_env: bool = False,
        on_result: Callable[[TaskScore], None] | None = None,
    ) -> list[TaskScore]:
        """Score the model at ``base_url`` (an OpenAI-compatible API, usually ending in /v1)
        on each task, ``concurrency`` at a time; results in ``task_ids`` order. A failed task
        scores 0 with its outcome (``model_error``, ``infra_error``) and a reason."""
        from throne.adapters.inference.env_run import run_tasks
        from throne.adapters.inference.policy import Deadlines, Limits, RetryPolicy
        from throne.app import open_chat_client, open_eval_service
        from throne.ports.model_endpoints import Endpoint

        ids = list(task_ids)
        if concurrency < 1 or timeout <= 0 or retries < 0:
            raise ValueError("concurrency and timeout must be positive, retries not negative")
        client = open_chat_client(
            deadlines=Deadlines(connect=min(10.0, timeout), read=timeout, total=timeout),
            retry=RetryPolicy(attempts=retries + 1),
            limits=Limits(per_endpoint=concurrency, overall=concurrency),
            trust_env=proxy_from_env,
        )
        async with client:
            service = open_eval_service(
                self.name,
                self.env_url,
                client,
                interface=self.interface,
                max_turns=self.max_turns,
                score_range=self.score_range,
                eval_params=self.eval_params,
                concurrency=concurrency,
            )
            try:
                return await run_tasks(
                    service,
                    Endpoint(base_url, model, api_key),
                    ids,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    timeout=timeout,
                    on_result=on_result,
                )
            finally:
                await service.aclose()


def env(
    name: str,
    env_url: str | None = None,
    *,
    interface: Literal["evaluate", "interactive"] = "evaluate",
    max_turns: int | None = None,
    eval_params: Mapping[str, object] | None = None,
) -> Env:
    """`Env` by name: an installed one, or with ``env_url`` any protocol service."""
    if env_url is None and name not in {e.name for e in environments()}:
        raise UnknownEnv(_unknown(name))
    return Env(name, env_url, interface, max_turns, eval_params=dict(eval_params or {}))
