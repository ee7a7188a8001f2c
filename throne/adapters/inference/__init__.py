"""Inference over OpenAI-compatible HTTP: the `ChatCompletions` and `ModelEndpoints` adapters
and the client's policies. The ports and their records are in `throne.ports`."""

from throne.adapters.inference.breaker import BreakerPolicy, CircuitBreaker
from throne.adapters.inference.client import AiohttpChatCompletions, EndpointHealth
from throne.adapters.inference.endpoints import StaticModelEndpoints
from throne.adapters.inference.policy import Deadlines, Limits, RetryPolicy

__all__ = [
    "AiohttpChatCompletions",
    "BreakerPolicy",
    "CircuitBreaker",
    "Deadlines",
    "EndpointHealth",
    "Limits",
    "RetryPolicy",
    "StaticModelEndpoints",
]
