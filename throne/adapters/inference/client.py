"""`HttpxChatCompletions`: chat completions over HTTP with httpx, bounded and fault-tolerant.

Every call returns a `Completion` or a classified `Failure`; nothing the far side does raises.
Cancellation does propagate, so a shutting-down caller can cancel its tasks and close the
client without leaking connections.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import httpx

from throne.adapters.inference.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from throne.adapters.inference.completion_body import UnusableBody, parse_completion_body
from throne.adapters.inference.endpoints import Endpoint
from throne.adapters.inference.policy import (
    INFRA_STATUSES,
    RETRYABLE_STATUSES,
    Deadlines,
    Limits,
    RetryPolicy,
    parse_retry_after,
)
from throne.adapters.inference.records import (
    ChatRequest,
    Completion,
    Failure,
    FailureKind,
    Result,
)

_ERROR_SNIPPET_BYTES = 2048


class ChatCompletions(Protocol):
    """The inference port: ask an endpoint for one chat completion."""

    async def complete(self, endpoint: Endpoint, request: ChatRequest) -> Result:
        """A `Completion`, or a `Failure` classified as ``model_error`` or ``infra_error``."""
        ...

    def healthy(self, endpoint: Endpoint) -> bool:
        """False while the endpoint's circuit is open."""
        ...


@dataclass(frozen=True)
class EndpointHealth:
    state: BreakerState
    consecutive_failures: int
    in_flight: int


@dataclass(frozen=True)
class _Attempt:
    """One HTTP exchange: a completion, or a failure and whether trying again may help."""

    result: Completion | None = None
    kind: FailureKind = "infra_error"
    reason: str = ""
    status: int | None = None
    retryable: bool = False
    retry_after: float | None = None


# Connections per pool. httpcore scans a pool's connections on every request, so several
# small pools cost far less CPU at high concurrency than one large pool.
SHARD_SIZE = 4


class _Slots:
    """Per-endpoint bookkeeping: numbered slots bounding its concurrency, its breaker, and its
    connection pools. Slot ``i`` always uses pool ``i // SHARD_SIZE``, so a pool never has more
    requests than connections."""

    def __init__(self, limit: int, breaker: CircuitBreaker) -> None:
        # Last in, first out: low-numbered slots, and so warm connections, are reused first.
        self.free: asyncio.LifoQueue[int] = asyncio.LifoQueue()
        for slot in reversed(range(limit)):
            self.free.put_nowait(slot)
        self.breaker = breaker
        self.in_flight = 0
        self.shards: dict[int, httpx.AsyncClient] = {}


class HttpxChatCompletions:
    """Async client for OpenAI-compatible ``POST {base_url}/chat/completions``."""

    def __init__(
        self,
        *,
        deadlines: Deadlines | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        breaker: BreakerPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deadlines = deadlines or Deadlines()
        self._retry = retry or RetryPolicy()
        self._limits = limits or Limits()
        self._breaker_policy = breaker or BreakerPolicy()
        self._rng = rng or random.Random()
        self._clock = clock
        self._overall = asyncio.Semaphore(self._limits.overall)
        self._endpoints: dict[str, _Slots] = {}
        self._closed = False
        self._tls: ssl.SSLContext | None = None

    async def __aenter__(self) -> HttpxChatCompletions:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection. Cancel in-flight calls first."""
        self._closed = True
        for slots in self._endpoints.values():
            for shard in slots.shards.values():
                await shard.aclose()

    def health(self) -> dict[str, EndpointHealth]:
        """Per endpoint key: breaker state, consecutive failures, requests in flight."""
        return {
            key: EndpointHealth(s.breaker.state, s.breaker.consecutive_failures, s.in_flight)
            for key, s in self._endpoints.items()
        }

    def healthy(self, endpoint: Endpoint) -> bool:
        slots = self._endpoints.get(endpoint.key)
        return slots is None or slots.breaker.state != "open"

    async def complete(self, endpoint: Endpoint, request: ChatRequest) -> Result:
        if self._closed:
            raise RuntimeError("the inference client is closed")
        slots = self._slots(endpoint)
        # Endpoint slot first, then the overall one: a busy endpoint never holds overall slots
        # that other endpoints could use.
        slot = await slots.free.get()
        try:
            async with self._overall:
                slots.in_flight += 1
                try:
                    http = self._shard(slots, slot)
                    return await self._call(http, endpoint, request, slots.breaker)
                finally:
                    slots.in_flight -= 1
        finally:
            slots.free.put_nowait(slot)

    def _shard(self, slots: _Slots, slot: int) -> httpx.AsyncClient:
        shard = slots.shards.get(slot // SHARD_SIZE)
        if shard is None:
            # One TLS context for every pool: loading the CA bundle takes ~0.1 s each time.
            self._tls = self._tls or httpx.create_ssl_context()
            shard = slots.shards[slot // SHARD_SIZE] = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    connect=self._deadlines.connect,
                    read=self._deadlines.read,
                    write=self._deadlines.read,
                    pool=None,
                ),
                limits=httpx.Limits(
                    max_connections=SHARD_SIZE, max_keepalive_connections=SHARD_SIZE
                ),
                follow_redirects=False,
                verify=self._tls,
            )
        return shard

    def _slots(self, endpoint: Endpoint) -> _Slots:
        slots = self._endpoints.get(endpoint.key)
        if slots is None:
            breaker = CircuitBreaker(self._breaker_policy, self._clock)
            slots = self._endpoints[endpoint.key] = _Slots(self._limits.per_endpoint, breaker)
        return slots

    async def _call(
        self,
        http: httpx.AsyncClient,
        endpoint: Endpoint,
        request: ChatRequest,
        breaker: CircuitBreaker,
    ) -> Result:
        started = self._clock()
        deadline = started + self._deadlines.total
        attempts = 0
        last: _Attempt | None = None
        try:
            async with asyncio.timeout(self._deadlines.total):
                while True:
                    probe = breaker.state == "half_open"
                    if not breaker.allow():
                        reason = "circuit open" + (f" after: {last.reason}" if last else "")
                        return self._failure("infra_error", reason, started, attempts, last)
                    attempts += 1
                    last = None
                    try:
                        last = await self._attempt(http, endpoint, request)
                    finally:
                        if last is None and probe:
                            breaker.release_probe()
                    if last.result is not None:
                        breaker.record_success()
                        return Completion(
                            last.result.text, last.result.usage, self._clock() - started, attempts
                        )
                    if last.kind == "infra_error":
                        breaker.record_failure()
                    else:
                        breaker.record_success()
                    if not last.retryable or attempts >= self._retry.attempts:
                        return self._failure(last.kind, last.reason, started, attempts, last)
                    delay = self._retry.backoff(attempts, self._rng)
                    if last.retry_after is not None:
                        delay = max(delay, last.retry_after)
                    if self._clock() + delay >= deadline:
                        reason = f"{last.reason}; next retry would pass the total deadline"
                        return self._failure(last.kind, reason, started, attempts, last)
                    await asyncio.sleep(delay)
        except TimeoutError:
            reason = f"total deadline of {self._deadlines.total:g}s exceeded"
            return self._failure("infra_error", reason, started, attempts, None)

    def _failure(
        self,
        kind: FailureKind,
        reason: str,
        started: float,
        attempts: int,
        last: _Attempt | None,
    ) -> Failure:
        status = last.status if last is not None else None
        return Failure(kind, reason, self._clock() - started, attempts, status)

    async def _attempt(
        self, http: httpx.AsyncClient, endpoint: Endpoint, request: ChatRequest
    ) -> _Attempt:
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        url = f"{endpoint.base_url}/chat/completions"
        try:
            async with http.stream("POST", url, json=request.body(), headers=headers) as response:
                return await self._read(response)
        except httpx.TimeoutException as exc:
            return _Attempt(reason=f"{type(exc).__name__}: {exc}".rstrip(": "), retryable=True)
        except httpx.TransportError as exc:
            # UnsupportedProtocol means a bad URL in our own config: trying again cannot help.
            retryable = not isinstance(exc, httpx.UnsupportedProtocol)
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return _Attempt(reason=reason, retryable=retryable)
        except httpx.HTTPError as exc:
            return _Attempt(reason=f"{type(exc).__name__}: {exc}".rstrip(": "))

    async def _read(self, response: httpx.Response) -> _Attempt:
        status = response.status_code
        if 200 <= status < 300:
            raw = await _read_capped(response, self._limits.max_body_bytes)
            if raw is None:
                cap = self._limits.max_body_bytes
                return _Attempt(kind="model_error", reason=f"body over {cap} bytes", status=status)
            try:
                parsed = parse_completion_body(raw)
            except UnusableBody as exc:
                return _Attempt(kind="model_error", reason=str(exc), status=status)
            return _Attempt(result=Completion(parsed.text, parsed.usage, 0.0, 1))
        snippet = await _read_capped(response, _ERROR_SNIPPET_BYTES, truncate=True) or b""
        reason = f"HTTP {status}: {snippet.decode('utf-8', 'replace').strip()[:200]}".rstrip(": ")
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return _Attempt(reason=reason, status=status, retryable=True, retry_after=retry_after)
        if status in INFRA_STATUSES or status < 400 or status >= 500:
            return _Attempt(reason=reason, status=status)
        # Any other 4xx refuses this model or this request (unknown model, context too long).
        return _Attempt(kind="model_error", reason=reason, status=status)


async def _read_capped(response: httpx.Response, cap: int, truncate: bool = False) -> bytes | None:
    """At most ``cap`` bytes of the body; None when it is longer (or the prefix if
    ``truncate``). Stops reading as soon as the cap is passed."""
    declared = response.headers.get("content-length")
    if not truncate and declared is not None and declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            return b"".join(chunks)[:cap] if truncate else None
    return b"".join(chunks)
