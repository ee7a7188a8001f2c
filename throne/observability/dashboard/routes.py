"""The dashboard's routes, mounted on the status API's app (`status_app`): the pages under
``/dashboard`` and their assets under ``/dashboard/static``.

Each page asks the same answers as its JSON route (`status_answers`) of the same snapshots.
Bad input gets a page that says so: 400 for a malformed uid, hotkey, page or battle number,
404 for one the log does not hold, 503 while the log cannot be read — never a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from throne.observability import status_answers as answers
from throne.observability.dashboard import details, logpages, reigns
from throne.observability.dashboard.html import PREFIX, esc, link, page
from throne.observability.dashboard.overview import overview
from throne.observability.status_reads import StatusReads, unavailable


@dataclass(frozen=True)
class Rendered:
    title: str
    main: str
    current: str = ""
    script: str = ""


PageOf = Callable[[StatusReads, Request], Awaitable[Rendered]]


async def _overview(reads: StatusReads, request: Request) -> Rendered:
    return Rendered("Overview", overview(await reads.value("rank")), "overview", "live.js")


def _src(path: str, request: Request) -> str:
    """The JSON route a page's numbers come from, with the page's own query (its page)."""
    query = request.url.query
    return f"{path}?{query}" if query else path


async def _reigns(reads: StatusReads, request: Request) -> Rendered:
    history = await answers.history_page(reads, request)
    rank = await reads.value("rank")
    main = reigns.reigns(history, rank["block"], _src("/history", request))
    return Rendered("Reigns and battles", main, "reigns")


async def _battle(reads: StatusReads, request: Request) -> Rendered:
    found = await answers.battle(reads, request)
    src = f"/history/battles/{int(found['number'])}"
    return Rendered(reigns.title_of(found), reigns.battle(found, src), "reigns")


async def _miner(reads: StatusReads, request: Request) -> Rendered:
    found = await answers.miner(reads, request)
    samples = await answers.miner_samples(reads, request)
    battles = await answers.miner_battles(reads, request)
    rank = await reads.value("rank")
    uid = found["uid"]
    title = f"Miner {found['hotkey']}" + ("" if uid is None else f" (UID {uid})")
    src = _src(f"/miners/{quote(str(found['hotkey']), safe='')}/battles", request)
    return Rendered(title, details.miner(found, rank, samples, battles, src))


async def _env(reads: StatusReads, request: Request) -> Rendered:
    summary = await answers.env_samples(reads, request)
    name = str(request.path_params["name"])
    src = f"/envs/{quote(name, safe='')}/samples-summary"
    return Rendered(f"Environment {name}", details.env(summary, src))


async def _weights(reads: StatusReads, request: Request) -> Rendered:
    listed = await answers.submissions_page(reads, request)
    now = await reads.value("weights")
    main = logpages.weights(listed, now, _src("/weights/submissions", request))
    return Rendered("Weights", main, "weights")


async def _audit(reads: StatusReads, request: Request) -> Rendered:
    return Rendered("Audit", logpages.audit(await reads.audit()), "audit")


def _endpoint(reads: StatusReads, render: PageOf) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            rendered = await render(reads, request)
            envs = (await reads.value("rank"))["envs"]
        except answers.BadRequest as exc:
            return _problem(400, "Not a valid request", str(exc))
        except answers.NotFound as exc:
            return _problem(404, "Not found", str(exc))
        except Exception as exc:
            if not unavailable(exc):
                raise
            return _problem(503, "The event log cannot be read", str(exc))
        html = page(
            rendered.title,
            rendered.main,
            current=rendered.current,
            envs=envs,
            script=rendered.script,
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    return endpoint


def _problem(status: int, title: str, detail: str) -> Response:
    main = (
        f'<p class="banner" role="alert">{esc(detail)}</p>'
        f"<p>{link(PREFIX, 'Back to the overview')}</p>"
    )
    return HTMLResponse(page(title, main), status_code=status)


def dashboard_routes(reads: StatusReads) -> list[BaseRoute]:
    def at(path: str, render: PageOf) -> Route:
        return Route(path, _endpoint(reads, render))

    async def home(request: Request) -> Response:
        return RedirectResponse(PREFIX, status_code=307)

    static = StaticFiles(packages=[("throne.observability.dashboard", "static")])
    return [
        Route("/", home),
        at(PREFIX, _overview),
        at(f"{PREFIX}/", _overview),
        at(f"{PREFIX}/reigns", _reigns),
        at(f"{PREFIX}/battles/{{number}}", _battle),
        at(f"{PREFIX}/miners/{{who}}", _miner),
        at(f"{PREFIX}/envs/{{name}}", _env),
        at(f"{PREFIX}/weights", _weights),
        at(f"{PREFIX}/audit", _audit),
        Mount(f"{PREFIX}/static", static, name="dashboard-static"),
    ]
