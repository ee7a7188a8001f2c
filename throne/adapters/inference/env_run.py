"""Running an environment's tasks against one endpoint's model.

This is what `throne eval` does against any OpenAI-compatible endpoint, on any env service
(throne's own in-process, or one that speaks the environment protocol), and the shape of what a
sampler records per task: score, outcome kind, latency and tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from throne.envs.protocol import task_seed
from throne.ports.env_service import EnvService, EvalRequest, Scored
from throne.ports.model_endpoints import Endpoint

Outcome = Literal["ok", "model_error", "infra_error"]


@dataclass(frozen=True)
class TaskScore:
    """One task's result. A failed call scores 0; ``outcome`` says which kind of failure."""

    task_id: int
    score: float
    outcome: Outcome
    latency: float
    completion_tokens: int | None
    detail: str


async def run_tasks(
    service: EnvService,
    endpoint: Endpoint,
    task_ids: Sequence[int],
    *,
    temperature: float | None = 0.0,
    max_tokens: int | None = None,
    timeout: float = 600.0,
    on_result: Callable[[TaskScore], None] | None = None,
) -> list[TaskScore]:
    """Have the env evaluate the endpoint's model on every task, all at once (the client and
    the service bound concurrency).

    Results come back in ``task_ids`` order; ``on_result`` sees each one as it finishes. A task
    whose evaluation fails in a way nothing classified is that task's infra error, not the
    run's.
    """

    async def one(task_id: int) -> TaskScore:
        request = EvalRequest(
            task_id=task_id,
            seed=task_seed(service.name, task_id),
            endpoint=endpoint,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
        )
        try:
            outcome = await service.evaluate(request)
        except Exception as exc:
            detail = " ".join(f"evaluation failed: {type(exc).__name__}: {exc}".split())[:300]
            score = TaskScore(task_id, 0.0, "infra_error", 0.0, None, detail)
        else:
            if isinstance(outcome, Scored):
                tokens = outcome.usage.completion_tokens
                score = TaskScore(
                    task_id, outcome.score, "ok", outcome.latency, tokens, outcome.detail
                )
            else:
                detail = outcome.reason + (f": {outcome.detail}" if outcome.detail else "")
                score = TaskScore(task_id, 0.0, outcome.kind, outcome.latency, None, detail)
        if on_result is not None:
            on_result(score)
        return score

    return list(await asyncio.gather(*(one(task_id) for task_id in task_ids)))
