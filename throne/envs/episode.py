"""The validator's side of a multi-turn episode: show, ask, act, until done.

`play` drives any `Turns` (in-process episodes, or an interactive env over HTTP): it resets
the episode, shows the model each observation, sends back the model's answer as the action,
and ends when the env says the episode is done or truncated, or when the turn limit is reached.
The score is the episode's last reward. A model that fails to answer ends the episode with that
failure; an env that fails ends it with the env's.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Protocol

from throne.envs.protocol import Step, chat_seed
from throne.ports.chat_completions import ChatCompletions, ChatRequest, Completion, Message
from throne.ports.env_service import EvalRequest, Outcome, Scored, Unscored, UnscoredKind, Usage


class TurnFailed(Exception):
    """An interactive env's call failed; ``kind`` and ``reason`` as in `Unscored`."""

    def __init__(self, kind: UnscoredKind, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.kind: UnscoredKind = kind
        self.reason = reason
        self.detail = detail


class Turns(Protocol):
    """The interactive interface, one episode at a time. Each call raises `TurnFailed` for
    what goes wrong on the env's side."""

    async def reset(self, task_id: int, seed: int) -> Step: ...

    async def step(self, episode_id: str, action: str) -> Step: ...

    async def stop(self, episode_id: str) -> None: ...


def transcript_bytes(conversation: list[object]) -> bytes:
    """A conversation as the transcript stored for it: compact JSON, in UTF-8.

    Text read from an env's JSON may hold a lone surrogate (``"\\ud800"``), which has no
    UTF-8 form; such a transcript is written with ASCII escapes instead, still as it was sent.
    """
    try:
        return json.dumps(conversation, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(conversation, separators=(",", ":")).encode("ascii")


def conversation_bytes(messages: list[Message]) -> bytes:
    """The transcript stored for an episode: the conversation as JSON."""
    return transcript_bytes([{"role": m.role, "content": m.content} for m in messages])


async def play(
    turns: Turns, client: ChatCompletions, request: EvalRequest, *, max_turns: int
) -> Outcome:
    """One episode of ``request.task_id`` for the model at ``request.endpoint``.

    Ends in `Scored` with the last reward when the env ends the episode or the model has used
    ``max_turns`` turns (the detail says which); in `Unscored` when a call to the model or to
    the env fails. The caller bounds the whole episode by ``request.timeout``.
    """
    started = time.monotonic()
    messages: list[Message] = []
    prompt_tokens = completion_tokens = 0

    def unscored(kind: UnscoredKind, reason: str, detail: str = "") -> Unscored:
        return Unscored(
            kind, reason, time.monotonic() - started, conversation_bytes(messages), detail
        )

    try:
        step = await turns.reset(request.task_id, request.seed)
    except TurnFailed as exc:
        return unscored(exc.kind, exc.reason, exc.detail)
    try:
        turn = 0
        while not (step.done or step.truncated):
            if turn == max_turns:
                return Scored(
                    step.reward,
                    time.monotonic() - started,
                    Usage(prompt_tokens, completion_tokens),
                    conversation_bytes(messages),
                    f"turn limit: {max_turns} turns without an end",
                )
            turn += 1
            messages.append(Message("user", step.observation))
            chat = ChatRequest(
                request.endpoint.model,
                tuple(messages),
                request.temperature,
                request.max_tokens,
                chat_seed(request.seed),
            )
            answer = await client.complete(request.endpoint, chat)
            if not isinstance(answer, Completion):
                reason = (
                    "model_answer_unusable" if answer.kind == "model_error" else "model_unreachable"
                )
                return unscored(answer.kind, reason, f"turn {turn}: {answer.reason}")
            if answer.usage is not None:
                prompt_tokens += answer.usage.prompt_tokens
                completion_tokens += answer.usage.completion_tokens
            messages.append(Message("assistant", answer.text))
            try:
                step = await turns.step(step.episode_id, answer.text)
            except TurnFailed as exc:
                return unscored(exc.kind, exc.reason, exc.detail)
        if step.observation:
            messages.append(Message("user", step.observation))
        end = "truncated by the env" if step.truncated and not step.done else "done"
        return Scored(
            step.reward,
            time.monotonic() - started,
            Usage(prompt_tokens, completion_tokens),
            conversation_bytes(messages),
            f"{end} after {turn} turns",
        )
    finally:
        # The episode is over for us; a server that lost it has nothing to free.
        with contextlib.suppress(TurnFailed):
            await turns.stop(step.episode_id)
