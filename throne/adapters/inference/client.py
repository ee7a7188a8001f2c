"""`AiohttpChatCompletions`: chat completions over HTTP with aiohttp, bounded and fault-tolerant.

Every call returns a `Completion` or a classified `Failure`; nothing the far side does raises.
Cancellation does propagate, so a shutting-down caller can cancel its tasks and close the
client without leaking connections.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import aiohttp
import orjson
from yarl import URL

from throne.adapters.inference.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from throne.adapters.inference.completion_body import UnusableBody, parse_completion_body
from throne.adapters.inference.policy import (
    INFRA_STATUSES,
    RETRYABLE_STATUSES,
    Deadlines,
    Limits,
    RetryPolicy,
    parse_retry_after,
)
from throne.adapters.inference.transport_errors import TRANSPORT_ERRORS, classify
from throne.ports.chat_completions import (
    ChatCompletions,
    ChatRequest,
    Completion,
    Failure,
    FailureKind,
    Result,
)
from throne.ports.model_endpoints import Endpoint

_ERROR_SNIPPET_BYTES = 2048


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


class _Slots:
    """Per-endpoint bookkeeping: the bound on its requests in flight, its circuit breaker, and
    the URL and headers every request to it sends, built once."""

    def __init__(self, endpoint: Endpoint, limit: int, breaker: CircuitBreaker) -> None:
        self.free = asyncio.Semaphore(limit)
        self.breaker = breaker
        self.in_flight = 0
        url = f"{endpoint.base_url}/chat/completions"
        try:
            self.url: URL | str = URL(url)
        except ValueError:
            # Left as text, the request itself fails as an invalid URL, classified like any.
            self.url = url
        self.headers = {"Content-Type": "application/json"}
        if endpoint.api_key:
            self.headers["Authorization"] = f"Bearer {endpoint.api_key}"


class AiohttpChatCompletions(ChatCompletions):
    """Async client for OpenAI-compatible ``POST {base_url}/chat/completions``.

    One aiohttp session serves every endpoint; it is opened inside the running loop on the
    first call, so the client can be built before the loop starts. With ``trust_env`` the
    session follows ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` (and ``~/.netrc``) from the
    environment; off by default, since aiohttp then looks the proxy up on every request.
    """

    def __init__(
        self,
        *,
        deadlines: Deadlines | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        breaker: BreakerPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        trust_env: bool = False,
    ) -> None:
        self._deadlines = deadlines or Deadlines()
        self._trust_env = trust_env
        self._retry = retry or RetryPolicy()
        self._limits = limits or Limits()
        self._breaker_policy = breaker or BreakerPolicy()
        self._rng = rng or random.Random()
        self._clock = clock
        self._overall = asyncio.Semaphore(self._limits.overall)
        self._endpoints: dict[str, _Slots] = {}
        self._closed = False
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AiohttpChatCompletions:
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
        if self._session is not None:
            await self._session.close()
            self._session = None

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
        async with slots.free, self._overall:
            slots.in_flight += 1
            try:
                return await self._call(self._http(), slots, request)
            finally:
                slots.in_flight -= 1

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # No connection limit here: the slots above bound requests, and so connections.
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self._deadlines.connect, sock_read=self._deadlines.read
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                # Endpoints have no business setting state between calls.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=self._trust_env,
            )
        return self._session

    def _slots(self, endpoint: Endpoint) -> _Slots:
        slots = self._endpoints.get(endpoint.key)
        if slots is None:
            breaker = CircuitBreaker(self._breaker_policy, self._clock)
            limit = self._limits.per_endpoint
            slots = self._endpoints[endpoint.key] = _Slots(endpoint, limit, breaker)
        return slots

    async def _call(
        self, http: aiohttp.ClientSession, slots: _Slots, request: ChatRequest
    ) -> Result:
        breaker = slots.breaker
        body = orjson.dumps(request.body())
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
                        last = await self._attempt(http, slots, body)
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

    async def _attempt(self, http: aiohttp.ClientSession, slots: _Slots, body: bytes) -> _Attempt:
        try:
            async with http.post(
                slots.url, data=body, headers=slots.headers, allow_redirects=False
            ) as response:
                return await self._read(response)
        except TRANSPORT_ERRORS as exc:
            failure = classify(exc)
            return _Attempt(reason=failure.reason, retryable=failure.retryable)
        except Exception as exc:
            # Nothing else is expected here; should the far side find a way to make reading
            # its answer fail all the same, the call still ends in a failure, not an exception
            # that would stop the caller's loop. Not the model's fault for certain: infra.
            reason = " ".join(f"unexpected {type(exc).__name__}: {exc}".split())[:300]
            return _Attempt(reason=reason)

    async def _read(self, response: aiohttp.ClientResponse) -> _Attempt:
        status = response.status
        if 200 <= status < 300:
            raw = await _read_capped(response, self._limits.max_body_bytes)
            if raw is None:
                cap = self._limits.max_body_bytes
                return _Attempt(kind="model_error", reason=f"body over {cap} bytes", status=status)
            try:
                parsed = parse_completion_body(raw, max_bytes=self._limits.max_body_bytes)
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


async def _read_capped(
    response: aiohttp.ClientResponse, cap: int, truncate: bool = False
) -> bytes | None:
    """At most ``cap`` bytes of the body; None when it is longer (or the prefix if
    ``truncate``). Stops reading as soon as the cap is passed; a declared length over the cap
    is refused before reading anything."""
    declared = response.content_length
    if not truncate and declared is not None and declared > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        # Never ask for more than one byte past the cap: that byte alone says "too long".
        chunk = await response.content.read(cap + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if size > cap:
        return raw[:cap] if truncate else None
    return raw
