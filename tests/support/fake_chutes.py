"""A small Chutes on loopback: the API's chute lookup, and each chute's OpenAI-compatible API.

``GET /chutes/{chute_id}`` answers a chute's record in the shape of the real API's
``ChuteResponse`` (``chute_id``, ``name``, ``slug``, ``revision``, ``hot``, ``instances``...),
404 for a chute it does not hold, and 401 without the right bearer key. ``GET /ping`` answers
as the real API's does. Each chute is served under ``/{slug}/v1`` (``/models`` and
``/chat/completions``), so a test points the url template at ``{url}/{slug}/v1``. It can be
told to answer the lookup with a status or a body of its choosing (`fault`), or late
(`delay`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from throne.miners import BackgroundServer


@dataclass
class Chute:
    chute_id: str
    name: str
    slug: str
    revision: str | None = None
    hot: bool = True

    def record(self) -> dict[str, object]:
        instance = {"instance_id": f"{self.chute_id}-i0", "active": self.hot, "verified": True}
        return {
            "chute_id": self.chute_id,
            "name": self.name,
            "tagline": None,
            "readme": "",
            "public": True,
            "version": "1",
            "slug": self.slug,
            "standard_template": "vllm",
            "revision": self.revision,
            "instances": [instance],
            "hot": self.hot,
        }


@dataclass
class FakeChutes:
    api_key: str = "cpk_test"
    chutes: dict[str, Chute] = field(default_factory=dict)
    #: the lookup's answer instead of the record: (status, body)
    fault: tuple[int, bytes] | None = None
    #: seconds the lookup waits before it answers
    delay: float = 0.0
    #: the Authorization header of every request, as received
    seen: list[str | None] = field(default_factory=list)
    _server: BackgroundServer | None = None

    def add(self, chute: Chute) -> Chute:
        self.chutes[chute.chute_id] = chute
        return chute

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("not started")
        return self._server.url

    @property
    def url_template(self) -> str:
        return f"{self.url}/{{slug}}/v1"

    def __enter__(self) -> FakeChutes:
        self._server = BackgroundServer(self._app()).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization")
        self.seen.append(header)
        return header == f"Bearer {self.api_key}"

    def _by_slug(self, slug: str) -> Chute | None:
        return next((c for c in self.chutes.values() if c.slug == slug and c.hot), None)

    def _app(self) -> Starlette:
        async def lookup(request: Request) -> Response:
            if self.delay:
                await asyncio.sleep(self.delay)
            if not self._authorised(request):
                return JSONResponse({"detail": "Not authenticated"}, 401)
            if self.fault is not None:
                status, body = self.fault
                return Response(body, status, media_type="application/json")
            chute = self.chutes.get(request.path_params["chute_id"])
            if chute is None:
                return JSONResponse({"detail": "Chute not found, or does not belong to you"}, 404)
            return JSONResponse(chute.record())

        async def ping(request: Request) -> Response:
            return JSONResponse({"message": "pong"})

        async def models(request: Request) -> Response:
            chute = self._by_slug(request.path_params["slug"])
            if chute is None:
                return JSONResponse({"detail": "No instances available"}, 503)
            return JSONResponse({"object": "list", "data": [{"id": chute.name}]})

        async def completions(request: Request) -> Response:
            if not self._authorised(request):
                return JSONResponse({"detail": "Not authenticated"}, 401)
            chute = self._by_slug(request.path_params["slug"])
            if chute is None:
                return JSONResponse({"detail": "No instances available"}, 503)
            body = await request.json()
            if body.get("model") != chute.name:
                return JSONResponse({"detail": f"model not found: {body.get('model')}"}, 404)
            return JSONResponse(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": chute.name,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": f"hello from {chute.slug}"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
                }
            )

        return Starlette(
            routes=[
                Route("/chutes/{chute_id}", lookup),
                Route("/ping", ping),
                Route("/{slug}/v1/models", models),
                Route("/{slug}/v1/chat/completions", completions, methods=["POST"]),
            ]
        )
