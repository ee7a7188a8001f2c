"""Inference over OpenAI-compatible HTTP: the client, its records and where models are served."""

from throne.adapters.inference.breaker import BreakerPolicy, CircuitBreaker
from throne.adapters.inference.client import AiohttpChatCompletions, ChatCompletions, EndpointHealth
from throne.adapters.inference.endpoints import (
    Endpoint,
    ModelEndpoints,
    StaticModelEndpoints,
    UnknownModel,
)
from throne.adapters.inference.policy import Deadlines, Limits, RetryPolicy
from throne.adapters.inference.records import (
    ChatRequest,
    Completion,
    Failure,
    FailureKind,
    Message,
    Result,
    Usage,
)

__all__ = [
    "AiohttpChatCompletions",
    "BreakerPolicy",
    "ChatCompletions",
    "ChatRequest",
    "CircuitBreaker",
    "Completion",
    "Deadlines",
    "Endpoint",
    "EndpointHealth",
    "Failure",
    "FailureKind",
    "Limits",
    "Message",
    "ModelEndpoints",
    "Result",
    "RetryPolicy",
    "StaticModelEndpoints",
    "UnknownModel",
    "Usage",
]
