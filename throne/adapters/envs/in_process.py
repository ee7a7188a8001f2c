"""throne's own environments behind the `EnvService` port, in the validator's process.

`InProcessEnv` asks the model one question and scores the answer here (scoring runs in a
worker thread: ABD and DED run programs in the sandbox); `InProcessEpisodes` plays a multi-turn
env's episode with the validator driving the loop. Both ask the model through the inference
client, so every classification of the model's failures is the client's.
"""

from __future__ import annotations

import asyncio

from throne.envs.base import Environment, InvalidTask
from throne.envs.episode import TurnFailed, play
from throne.envs.episodic import Episodes, EpisodicEnv, UnknownEpisode
from throne.envs.protocol import Step, chat_seed
from throne.ports.chat_completions import ChatCompletions, ChatRequest, Completion
from throne.ports.env_service import EvalRequest, Outcome, Scored, Unscored, Usage
from throne.ports.sandbox import SandboxUnavailable

#: The reason of an unscored sample whose model call failed, by the client's kind of failure.
_INFERENCE = {"model_error": "model_answer_unusable", "infra_error": "model_unreachable"}


class InProcessEnv:
    """A single-turn throne env. The transcript is the model's answer, as UTF-8."""

    def __init__(self, env: Environment, client: ChatCompletions) -> None:
        self.env = env
        self._client = client

    @property
    def name(self) -> str:
        return self.env.name

    async def evaluate(self, request: EvalRequest) -> Outcome:
        task = await asyncio.to_thread(self.env.task, request.task_id)
        chat = ChatRequest.single(
            request.endpoint.model,
            task.prompt,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            seed=chat_seed(request.seed),
        )
        answer = await self._client.complete(request.endpoint, chat)
        if not isinstance(answer, Completion):
            return Unscored(
                answer.kind, _INFERENCE[answer.kind], answer.latency, b"", answer.reason
            )
        try:
            evaluation = await asyncio.to_thread(self.env.evaluate, task, answer.text)
        except (SandboxUnavailable, InvalidTask) as exc:
            # Our side failed to score the answer: not the model's fault, not a score.
            reason = "sandbox_unavailable" if isinstance(exc, SandboxUnavailable) else "bad_task"
            return Unscored("infra_error", reason, answer.latency, b"", str(exc)[:300])
        usage = answer.usage
        return Scored(
            float(evaluation.score),
            answer.latency,
            Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            answer.text.encode("utf-8"),
            evaluation.detail,
        )

    async def aclose(self) -> None:
        return None


class _LocalTurns:
    """`Turns` over an in-process `Episodes` table."""

    def __init__(self, episodes: Episodes) -> None:
        self._episodes = episodes

    async def reset(self, task_id: int, seed: int) -> Step:
        return self._episodes.reset(task_id, seed)

    async def step(self, episode_id: str, action: str) -> Step:
        try:
            return self._episodes.step(episode_id, action)
        except UnknownEpisode as exc:
            raise TurnFailed("infra_error", "episode_lost", str(exc)) from None

    async def stop(self, episode_id: str) -> None:
        self._episodes.stop(episode_id)


class InProcessEpisodes:
    """A multi-turn throne env, played here. ``max_turns`` defaults to the env's own."""

    def __init__(
        self, env: EpisodicEnv, client: ChatCompletions, *, max_turns: int | None = None
    ) -> None:
        self.env = env
        self._client = client
        self._turns = _LocalTurns(Episodes(env))
        self.max_turns = max_turns or env.max_turns

    @property
    def name(self) -> str:
        return self.env.name

    async def evaluate(self, request: EvalRequest) -> Outcome:
        return await play(self._turns, self._client, request, max_turns=self.max_turns)

    async def aclose(self) -> None:
        return None
