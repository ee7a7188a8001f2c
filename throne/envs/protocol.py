"""The environment protocol's messages: one parse and one dump for each (docs/envs.md).

An environment service answers ``GET /health``, ``GET /methods`` and ``POST /call`` with
``{"method": NAME, "args": [...], "kwargs": {...}}``, which answers
``{"status": "success" | "failed", "result": ..., "error": ...}``. Single-turn services offer
``evaluate``, whose result is ``{"score", "success", "error"?, "extra": {"conversation",
"usage"}}``; interactive ones offer ``reset``, ``step``, ``state`` and ``stop``, each answering
``{"observation", "reward", "done", "truncated", "episode_id", "info"}``.

Pure code: the HTTP client (`throne.adapters.envs.remote`) and the server
(`throne.adapters.envs.server`) both stand on these functions, so the two sides cannot
disagree. Every parse raises `ProtocolError` with a short reason name, never anything else.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A call is bounded by the env's own timeout plus this, as the reference's server bounds it.
CALL_GRACE_SECONDS = 10.0
#: The largest answer read from an env (a long agent conversation fits; a flood does not).
MAX_BODY_BYTES = 4 * 1024 * 1024
#: The method single-turn services offer, and those of interactive ones.
EVALUATE = "evaluate"
INTERACTIVE = ("reset", "step", "state", "stop")


def task_seed(env: str, task_id: int) -> int:
    """The protocol's seed of a task: the first 32 bits of ``sha256("ENV:TASK_ID")``."""
    return int(hashlib.sha256(f"{env}:{task_id}".encode()).hexdigest()[:8], 16)


def chat_seed(seed: int) -> int:
    """The sampling seed sent to the model: the protocol seed within 31 bits, which every
    inference server accepts (for throne's envs, the seed they have always sent)."""
    return seed & 0x7FFF_FFFF


class ProtocolError(ValueError):
    """An answer that breaks the protocol. ``reason`` names how, for metrics and notes."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class EnvFailed(ProtocolError):
    """``status: "failed"``: the env says the call failed; ``detail`` is its error."""

    def __init__(self, error: str) -> None:
        super().__init__("env_failed", error)


def _json(body: bytes | str) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError("body_too_large", f"{len(body)} bytes, at most {MAX_BODY_BYTES}")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: a deeply nested body
        snippet = " ".join(str(body[:80]).split())
        raise ProtocolError("not_json", f"{type(exc).__name__}: {snippet}") from None


def _short(value: object) -> str:
    return " ".join(str(value).split())[:200]


# -- POST /call ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    args: Sequence[Any] = ()

    def dump(self) -> bytes:
        body = {"method": self.method, "args": list(self.args), "kwargs": dict(self.kwargs)}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, body: bytes | str) -> Call:
        data = _json(body)
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            raise ProtocolError("malformed_call", "expected {method, args, kwargs}")
        args = data.get("args", [])
        kwargs = data.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ProtocolError("malformed_call", "args must be a list, kwargs an object")
        return cls(data["method"], kwargs, tuple(args))


def dump_answer(result: object) -> bytes:
    return json.dumps({"status": "success", "result": result, "error": None}).encode()


def dump_failure(error: str) -> bytes:
    return json.dumps({"status": "failed", "result": None, "error": error}).encode()


def parse_answer(body: bytes | str) -> Any:
    """The ``result`` of a successful call; `EnvFailed` for ``status: "failed"``."""
    data = _json(body)
    if not isinstance(data, dict) or data.get("status") not in ("success", "failed"):
        raise ProtocolError("malformed_answer", "expected {status: success|failed, ...}")
    if data["status"] == "failed":
        raise EnvFailed(_short(data.get("error") or "no error given"))
    if data.get("result") is None:
        raise ProtocolError("no_result", "status success with no result")
    return data["result"]


# -- GET /methods -------------------------------------------------------------------------------


def dump_methods(signatures: Mapping[str, str]) -> bytes:
    """``{"methods": [{"name", "signature"}]}``."""
    methods = [{"name": n, "signature": s} for n, s in signatures.items()]
    return json.dumps({"methods": methods}).encode()


def parse_methods(body: bytes | str) -> frozenset[str]:
    """The method names a service offers. Accepts ``{"methods": [...]}`` of names or of
    ``{"name": ...}`` objects, a bare list, or an object keyed by name."""
    data = _json(body)
    if isinstance(data, dict) and "methods" in data:
        data = data["methods"]
    if isinstance(data, dict):
        return frozenset(str(k) for k in data)
    if isinstance(data, list):
        names = set()
        for item in data:
            if isinstance(item, str):
                names.add(item)
            elif isinstance(item, dict) and isinstance(item.get("name"), str):
                names.add(item["name"])
            else:
                raise ProtocolError("malformed_methods", _short(item))
        return frozenset(names)
    raise ProtocolError("malformed_methods", "expected a list of methods")


# -- evaluate's result --------------------------------------------------------------------------


def score_of(value: object, score_range: tuple[float, float]) -> float:
    """A score as the protocol allows it: a JSON number (not a bool, not a string), finite,
    within the env's declared range."""
    if value is None:
        raise ProtocolError("score_missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError("score_not_a_number", f"{type(value).__name__} {_short(value)}")
    score = float(value)
    if not math.isfinite(score):
        raise ProtocolError("score_not_finite", repr(score))
    lo, hi = score_range
    if not lo <= score <= hi:
        raise ProtocolError("score_out_of_range", f"{score!r} outside [{lo}, {hi}]")
    return score


def usage_of(value: object) -> tuple[int, int]:
    """``(prompt_tokens, completion_tokens)`` of an OpenAI-style usage object; 0 for what is
    absent or not a count (usage is reported, not judged)."""
    if not isinstance(value, dict):
        return 0, 0
    counts = []
    for key in ("prompt_tokens", "completion_tokens"):
        n = value.get(key)
        counts.append(n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else 0)
    return counts[0], counts[1]


@dataclass(frozen=True)
class Evaluation:
    """``evaluate``'s result."""

    score: float
    success: bool = True
    error: str = ""
    conversation: tuple[Any, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def dump(self) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "conversation": list(self.conversation),
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
        }
        out: dict[str, Any] = {"score": self.score, "success": self.success, "extra": extra}
        if self.error:
            out["error"] = self.error
        return out

    @classmethod
    def parse(cls, result: object, score_range: tuple[float, float] = (0.0, 1.0)) -> Evaluation:
        if not isinstance(result, dict):
            raise ProtocolError("malformed_result", f"expected an object, got {_short(result)}")
        score = score_of(result.get("score"), score_range)
        extra = result.get("extra")
        extra = extra if isinstance(extra, dict) else {}
        conversation = extra.get("conversation")
        prompt, completion = usage_of(extra.get("usage"))
        error = result.get("error")
        return cls(
            score=score,
            success=result.get("success") is not False,
            error=_short(error) if error else "",
            conversation=tuple(conversation) if isinstance(conversation, list) else (),
            prompt_tokens=prompt,
            completion_tokens=completion,
        )


# -- the interactive interface ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What ``reset`` and ``step`` answer: the observation the model is shown next, the reward
    so far, and whether the episode is over (``done``) or was cut short (``truncated``)."""

    observation: str
    episode_id: str
    reward: float = 0.0
    done: bool = False
    truncated: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)

    def dump(self) -> dict[str, Any]:
        return {
            "observation": self.observation,
            "reward": self.reward,
            "done": self.done,
            "truncated": self.truncated,
            "episode_id": self.episode_id,
            "info": dict(self.info),
        }

    @classmethod
    def parse(cls, result: object, score_range: tuple[float, float] = (0.0, 1.0)) -> Step:
        if not isinstance(result, dict):
            raise ProtocolError("malformed_step", f"expected an object, got {_short(result)}")
        observation = result.get("observation")
        if not isinstance(observation, str):
            raise ProtocolError("malformed_step", "observation must be a string")
        episode_id = result.get("episode_id")
        if not isinstance(episode_id, str | int) or isinstance(episode_id, bool):
            raise ProtocolError("malformed_step", "episode_id must be a string")
        reward = result.get("reward", 0.0)
        reward = score_of(0.0 if reward is None else reward, score_range)
        flags = [result.get(k, False) for k in ("done", "truncated")]
        if not all(isinstance(f, bool) for f in flags):
            raise ProtocolError("malformed_step", "done and truncated must be booleans")
        info = result.get("info")
        return cls(
            observation,
            str(episode_id),
            reward,
            flags[0],
            flags[1],
            info if isinstance(info, dict) else {},
        )
