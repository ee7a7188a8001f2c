"""The signer's HTTP API (ASGI): ``GET /healthz``, ``POST /sign``, ``POST /set_weights``.

Every request, whatever its path, must carry ``Authorization: Bearer TOKEN``; a missing or
wrong token is a 401 before anything else is read (the comparison takes the same time however
much of the token is right). Each request is one log line (``signer_request``: method, path,
status, outcome, client, and what was signed or submitted); the token never is.

Answers: 200 with the result; 400 ``{"refused": RULE, "message"}`` for a request outside the
rules (`throne.signer.rules`); 413 for a body over `MAX_BODY_BYTES`; 502 ``{"error":
"chain_refused", "code", "message"}`` when the chain refused what was sent, 503 ``{"error":
"chain_unavailable", "message"}`` when it could not be reached (the daemon retries later).
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from throne.ports.chain import Chain, ChainError, ChainRefused
from throne.ports.signer import Signer
from throne.signer.rules import Refused, to_sign, weight_request

#: A full vector of 65536 uids and u16 weights is under 800 kB of JSON.
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Holding:
    """What a signer holds: the chain adapter that signs and submits weights with the
    validator's hotkey, the key that signs checkpoints (the same hotkey on a Bittensor network),
    the one subnet it sets weights on, and the chain's name."""

    chain: Chain
    key: Signer
    netuid: int
    network: str


class _TooLarge(Exception):
    pass


def signer_app(holding: Holding, token: str) -> ASGIApp:
    """The API over ``holding``, for requests that carry ``token``."""
    hotkey = holding.chain.signer_hotkey
    health = {
        "ok": True,
        "hotkey": hotkey,
        "checkpoint_signer": holding.key.ss58_address,
        "key_loaded": True,
        "netuid": holding.netuid,
        "chain": holding.network,
    }
    # One submission at a time: one key, one nonce sequence, one rate limit.
    submitting = asyncio.Lock()

    async def healthz(request: Request) -> JSONResponse:
        request.state.outcome = "ok"
        return JSONResponse(health)

    async def sign(request: Request) -> JSONResponse:
        try:
            wanted = to_sign(await _json_body(request))
        except Refused as exc:
            return _refused(request, exc)
        signature = bytes(holding.key.sign(wanted.message))
        request.state.outcome = f"signed_{wanted.kind}"
        return JSONResponse(
            {
                "kind": wanted.kind,
                "signature": signature.hex(),
                "signer": holding.key.ss58_address,
            }
        )

    async def set_weights(request: Request) -> JSONResponse:
        try:
            wanted = weight_request(await _json_body(request), holding.netuid)
        except Refused as exc:
            return _refused(request, exc)
        weights = {uid: float(value) for uid, value in wanted.weights}
        async with submitting:
            try:
                sub = await asyncio.to_thread(
                    holding.chain.set_weights, wanted.netuid, weights, wanted.version_key
                )
            except ChainRefused as exc:
                request.state.outcome = f"chain_refused:{exc.code}"
                body = {"error": "chain_refused", "code": exc.code, "message": str(exc)}
                return JSONResponse(body, status_code=502)
            except ChainError as exc:  # unreachable, slow, or failing: the daemon retries
                request.state.outcome = "chain_unavailable"
                body = {"error": "chain_unavailable", "message": str(exc)}
                return JSONResponse(body, status_code=503)
        request.state.outcome = "landed" if sub.ok else f"not_landed:{sub.error_code}"
        request.state.detail = {
            "netuid": sub.netuid,
            "block": sub.block,
            "uids": len(wanted.weights),
            "extrinsic": sub.extrinsic_id,
        }
        return JSONResponse(sub.to_dict())

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/sign", sign, methods=["POST"]),
            Route("/set_weights", set_weights, methods=["POST"]),
        ]
    )
    return Guard(app, token)


class Guard:
    """Checks the token of every request and logs each one, answered or refused."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()
        self._log = structlog.get_logger("throne.signer")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        status = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            given = _header(scope, b"authorization")
            # compare_digest: the time taken says nothing of how much of the token was right
            if given is None or not hmac.compare_digest(given, self._expected):
                state["outcome"] = "no_token" if given is None else "bad_token"
                response = JSONResponse(
                    {"refused": "unauthorized", "message": "a valid bearer token is required"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, sending)
                return
            await self._app(scope, receive, sending)
        finally:
            client = scope.get("client")
            self._log.info(
                "signer_request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status[0],
                outcome=state.get("outcome", "not_found" if status[0] == 404 else "error"),
                client=f"{client[0]}:{client[1]}" if client and client[0] else "unix",
                **state.get("detail", {}),
            )


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _refused(request: Request, exc: Refused) -> JSONResponse:
    request.state.outcome = f"refused:{exc.rule}"
    status = 413 if exc.rule == "too_large" else 400
    return JSONResponse({"refused": exc.rule, "message": str(exc)}, status_code=status)


async def _json_body(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Refused("too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Refused("too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise Refused("bad_request", "the body is not JSON") from None
