"""Running an environment's tasks against one endpoint and scoring the answers.

This is what `throne eval` does against any OpenAI-compatible endpoint, and the shape of what a
sampler records per task: score, outcome kind, latency and tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from throne.envs.base import Environment
from throne.ports.chat_completions import ChatCompletions, ChatRequest, Completion
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


def task_seed(env: str, task_id: int) -> int:
    """The sampling seed sent with a task: fixed per (env, task) and within 31 bits, which
    every server accepts."""
    digest = hashlib.sha256(f"{env}:{task_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


async def run_tasks(
    env: Environment,
    client: ChatCompletions,
    endpoint: Endpoint,
    task_ids: Sequence[int],
    *,
    temperature: float | None = 0.0,
    max_tokens: int | None = None,
    on_result: Callable[[TaskScore], None] | None = None,
) -> list[TaskScore]:
    """Ask the endpoint every task (the client bounds concurrency) and score each answer.

    Results come back in ``task_ids`` order; ``on_result`` sees each one as it finishes.
    Scoring runs in a worker thread, since environments may run programs in a sandbox.
    """

    async def one(task_id: int) -> TaskScore:
        task = env.task(task_id)
        request = ChatRequest.single(
            endpoint.model,
            task.prompt,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=task_seed(env.name, task_id),
        )
        result = await client.complete(endpoint, request)
        if isinstance(result, Completion):
            try:
                evaluation = await asyncio.to_thread(env.evaluate, task, result.text)
            except Exception as exc:
                # Our side failed to score this answer: one task's failure, not the run's.
                detail = " ".join(f"scoring failed: {type(exc).__name__}: {exc}".split())[:300]
                score = TaskScore(task_id, 0.0, "infra_error", result.latency, None, detail)
            else:
                tokens = result.usage.completion_tokens if result.usage else None
                score = TaskScore(
                    task_id, evaluation.score, "ok", result.latency, tokens, evaluation.detail
                )
        else:
            score = TaskScore(task_id, 0.0, result.kind, result.latency, None, result.reason)
        if on_result is not None:
            on_result(score)
        return score

    return list(await asyncio.gather(*(one(task_id) for task_id in task_ids)))
