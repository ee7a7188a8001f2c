"""`EnvProtocolClient`: the HTTP side of the environment protocol, for one env's replicas.

An env is served by one or more replicas (containers, or hosts behind SSH tunnels), each at its
own base URL. Every call goes to one replica chosen round-robin or at random, holds one of that
replica's slots while it is in flight, and is bounded as a whole, body included: an env that
sends its headers and then hangs, or floods us, costs its timeout and nothing more. A failure
another replica may not share (unreachable, timeout, 429, 5xx) is tried again on the next one.

Every failure is a `TurnFailed` whose ``kind`` says whose fault it was. Our own call being
refused, the env being unreachable or overloaded are ``infra_error``; an env that answers,
but with ``status: "failed"`` or a body that breaks the protocol, has failed the task on the
model's behalf: ``model_error``, with the protocol's reason.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

from throne.envs.episode import TurnFailed
from throne.envs.protocol import (
    CALL_GRACE_SECONDS,
    MAX_BODY_BYTES,
    Call,
    ProtocolError,
    parse_answer,
    parse_methods,
)

LoadBalance = Literal["round_robin", "random"]
LOAD_BALANCES: tuple[LoadBalance, ...] = ("round_robin", "random")

#: How long ``/methods`` and ``/health`` may take: they answer at once on a live service.
PROBE_TIMEOUT_SECONDS = 10.0
_SNIPPET_BYTES = 2048
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes


class EnvProtocolClient:
    """One env's replicas, over one pooled ``httpx.AsyncClient``.

    ``concurrency`` bounds the calls in flight on each replica (a call waits for a slot before
    its clock starts). ``retries`` is how many further replicas a call tries after a failure
    that may be the replica's alone; with one replica it is tried again. ``grace`` is added to
    a call's own timeout, as the reference's server adds it before giving up on the env.
    The HTTP client and the slots are made on the first call, inside the running loop.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        load_balance: LoadBalance = "round_robin",
        concurrency: int = 4,
        retries: int = 1,
        rng: random.Random | None = None,
        grace: float = CALL_GRACE_SECONDS,
        probe_timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> None:
        if isinstance(urls, str) or not urls:
            raise ValueError("an env needs at least one replica URL")
        if load_balance not in LOAD_BALANCES:
            raise ValueError(f"load_balance must be one of {LOAD_BALANCES}, not {load_balance!r}")
        if concurrency < 1 or retries < 0:
            raise ValueError("concurrency must be at least 1 and retries at least 0")
        if not (math.isfinite(grace) and grace >= 0):
            raise ValueError(f"grace must be finite, non-negative seconds, not {grace!r}")
        if not (math.isfinite(probe_timeout) and probe_timeout > 0):
            raise ValueError(f"probe_timeout must be finite, positive seconds: {probe_timeout!r}")
        self.urls = tuple(_base_url(u) for u in urls)
        self.load_balance = load_balance
        self.concurrency = concurrency
        self.retries = retries
        self.grace = grace
        self.probe_timeout = probe_timeout
        self._rng = rng or random.Random()
        self._turn = itertools.count()
        self._http: httpx.AsyncClient | None = None
        self._slots: list[asyncio.Semaphore] = []
        self._methods: frozenset[str] | None = None
        self._methods_lock: asyncio.Lock | None = None

    async def call(self, method: str, kwargs: Mapping[str, object], timeout: float) -> object:
        """The ``result`` of ``POST /call``; raises `TurnFailed` for every failure.

        Each attempt is bounded by ``timeout + grace`` from the moment it holds a slot.
        """
        if not (math.isfinite(timeout) and timeout >= 0):
            raise ValueError(f"a call's timeout must be finite seconds, not {timeout!r}")
        try:
            body = Call(method, kwargs).dump()
        except (TypeError, ValueError) as exc:
            # Our own configuration put something unsendable into the call.
            raise TurnFailed("infra_error", "env_call_failed", f"kwargs not JSON: {exc}") from None
        try:
            bound = timeout + self.grace
            raw = await self._request(self._order(), "POST", "/call", body, bound, slot=True)
            return parse_answer(raw)
        except ProtocolError as exc:  # `EnvFailed` among them: ``env_failed``, the env's error
            raise TurnFailed("model_error", exc.reason, exc.detail) from None

    async def methods(self) -> frozenset[str]:
        """The names ``GET /methods`` lists, asked once and then remembered. A service whose
        list cannot be read has failed us, not a model: ``infra_error`` whatever the reason."""
        if self._methods is not None:
            return self._methods
        if self._methods_lock is None:
            self._methods_lock = asyncio.Lock()
        async with self._methods_lock:
            if self._methods is None:
                try:
                    # Any replica's list is the env's: ask each in turn until one answers.
                    every = range(len(self.urls))
                    raw = await self._request(every, "GET", "/methods", None, self.probe_timeout)
                    self._methods = parse_methods(raw)
                except ProtocolError as exc:
                    raise TurnFailed("infra_error", exc.reason, exc.detail) from None
            return self._methods

    async def health(self) -> bool:
        """Whether every replica answers ``GET /health`` with a 2xx, within the probe
        timeout; never raises."""

        async def one(replica: int) -> bool:
            try:
                reply = await self._exchange(replica, "GET", "/health", None, self.probe_timeout)
            except (TurnFailed, ProtocolError):
                return False
            return 200 <= reply.status < 300

        answers = await asyncio.gather(*(one(r) for r in range(len(self.urls))))
        return all(answers)

    async def aclose(self) -> None:
        """Close the pooled connections; cancel calls in flight first."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- one request, over the replicas ----------------------------------------------------

    def _order(self) -> list[int]:
        """The replicas a request tries, first choice first, then the next ones around."""
        n = len(self.urls)
        random_pick = self.load_balance == "random"
        first = self._rng.randrange(n) if random_pick else next(self._turn) % n
        return [(first + i) % n for i in range(self.retries + 1)]

    async def _request(
        self,
        order: Iterable[int],
        verb: str,
        path: str,
        body: bytes | None,
        bound: float,
        *,
        slot: bool = False,
    ) -> bytes:
        """The body of a 2xx answer from the first replica in ``order`` that gives one; the
        first failure that another replica would not mend ends the search."""
        failure: TurnFailed | None = None
        for replica in order:
            try:
                reply = await self._exchange(replica, verb, path, body, bound, slot=slot)
            except TurnFailed as exc:
                failure = exc
            else:
                failure = _status_failure(self.urls[replica], reply)
                if failure is None:
                    return reply.body
            if not _retryable(failure):
                break
        assert failure is not None
        raise failure

    async def _exchange(
        self,
        replica: int,
        verb: str,
        path: str,
        body: bytes | None,
        bound: float,
        *,
        slot: bool = False,
    ) -> _Reply:
        """One HTTP exchange with one replica, within ``bound`` seconds, the body read: up to
        `MAX_BODY_BYTES` of a 2xx answer (`ProtocolError` past it), a snippet of any other."""
        http = self._client()
        url = self.urls[replica]
        if slot:
            async with self._slots[replica]:
                return await self._bounded(http, url, verb, path, body, bound)
        return await self._bounded(http, url, verb, path, body, bound)

    async def _bounded(
        self,
        http: httpx.AsyncClient,
        url: str,
        verb: str,
        path: str,
        body: bytes | None,
        bound: float,
    ) -> _Reply:
        headers = _JSON if body is not None else None
        try:
            async with asyncio.timeout(bound):
                async with http.stream(verb, url + path, content=body, headers=headers) as response:
                    status = response.status_code
                    if 200 <= status < 300:
                        return _Reply(status, await _read_capped(response, MAX_BODY_BYTES))
                    return _Reply(status, await _read_snippet(response))
        except ProtocolError:
            raise
        except (TimeoutError, httpx.TimeoutException):
            raise TurnFailed(
                "infra_error", "env_timeout", f"{url}: no whole answer within {bound:g} s"
            ) from None
        except httpx.DecodingError as exc:
            # The env answered, in a content encoding that does not decode.
            raise TurnFailed("model_error", "not_decodable", f"{url}: {_line(exc)}") from None
        except (httpx.TransportError, OSError) as exc:
            raise TurnFailed(
                "infra_error", "env_unreachable", f"{url}: {type(exc).__name__} {_line(exc)}"
            ) from None
        except Exception as exc:  # a bug of ours or the library's: never the env's answer
            raise TurnFailed(
                "infra_error", "env_call_failed", f"{url}: {type(exc).__name__} {_line(exc)}"
            ) from None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            # The pool holds what the slots allow; the whole-call bound replaces httpx's own
            # per-read timeouts, and the environment's proxy settings do not apply to envs on
            # a private network.
            kept = self.concurrency * len(self.urls)
            self._http = httpx.AsyncClient(
                timeout=None,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=kept),
                trust_env=False,
                follow_redirects=False,
            )
            if not self._slots:
                self._slots = [asyncio.Semaphore(self.concurrency) for _ in self.urls]
        return self._http


def _base_url(url: object) -> str:
    text = str(url).strip().rstrip("/")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"env replica URL {url!r}: expected http(s)://HOST[:PORT][/PATH]")
    return text


def _status_failure(url: str, reply: _Reply) -> TurnFailed | None:
    status = reply.status
    if 200 <= status < 300:
        return None
    snippet = _line(reply.body.decode("utf-8", "replace"))
    detail = f"{url}: HTTP {status} {snippet}".strip()
    if status == 429 or status >= 500:
        return TurnFailed("infra_error", f"env_http_{status}", detail)
    # Any other answer (4xx, a redirect) refuses our call: our request, not the model's doing.
    return TurnFailed("infra_error", "env_refused_call", detail)


def _retryable(failure: TurnFailed) -> bool:
    """Failures another replica, or the same one a moment later, may not have."""
    return failure.reason in ("env_unreachable", "env_timeout") or failure.reason.startswith(
        "env_http_"
    )


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """The body, or `ProtocolError` ``body_too_large`` as soon as it passes ``cap`` bytes
    (before reading anything when its declared length does)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ProtocolError("body_too_large", f"declared {declared} bytes, at most {cap}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ProtocolError("body_too_large", f"over {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_snippet(response: httpx.Response) -> bytes:
    """The start of an error answer, for the failure's detail."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _SNIPPET_BYTES:
            break
    return b"".join(chunks)[:_SNIPPET_BYTES]


def _line(value: object) -> str:
    return " ".join(str(value).split())[:200]
