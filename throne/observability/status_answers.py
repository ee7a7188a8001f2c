"""The answers of the status API's routes that take a parameter — a page of the history or of
the weight submissions, one battle, one miner, one env's samples — cut out of the shared
snapshots (`status_reads`). The JSON routes and the dashboard's pages call the same functions,
so a page shows exactly what its JSON route answers.

Bad input is named before the log is read: a `BadRequest` (400) for a malformed page, limit,
uid or hotkey, a `NotFound` (404) for a battle, miner or env the log does not hold.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from throne.observability.status_reads import StatusReads
from throne.views.miner import BadMinerKey, parse_miner_key
from throne.views.paging import BadPage, Page, paged_history
from throne.views.paging import battle as battle_of
from throne.views.samples import miner_summary

MAX_ENV_NAME = 100


class BadRequest(ValueError):
    """The request cannot be answered as asked; the message says why."""


class NotFound(LookupError):
    """The log holds no such thing; the message names it."""


def page_of(request: Request) -> Page:
    try:
        return Page.parse(request.query_params.get("page"), request.query_params.get("limit"))
    except BadPage as exc:
        raise BadRequest(str(exc)) from None


async def history_page(reads: StatusReads, request: Request) -> dict[str, Any]:
    page = page_of(request)
    return paged_history(await reads.value("history"), page)


async def battle(reads: StatusReads, request: Request) -> dict[str, Any]:
    text = str(request.path_params["number"])
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise BadRequest("a battle is named by its number: 1 for the first")
    found = battle_of(await reads.value("history"), int(text))
    if found is None:
        raise NotFound(f"no battle {text}")
    return found


async def submissions_page(reads: StatusReads, request: Request) -> dict[str, Any]:
    page = page_of(request)
    every = await reads.value("submissions")
    listed = every["submissions"]
    return {
        "netuid": every["netuid"],
        "submissions": page.of(listed),
        "page": page.describe(len(listed)),
    }


async def miner(reads: StatusReads, request: Request) -> dict[str, Any]:
    who = str(request.path_params["who"])
    try:
        parse_miner_key(who)
    except BadMinerKey as exc:
        raise BadRequest(f"not a hotkey or uid: {exc}") from None
    found = (await reads.miners()).find(who)
    if found is None:
        raise NotFound(f"no miner {who!r}")
    return found


async def miner_samples(reads: StatusReads, request: Request) -> dict[str, Any]:
    """The miner's recent samples of the current pool (none is a summary of zero samples)."""
    found = await miner(reads, request)
    every = await reads.value("samples")
    summary = every["miners"].get(found["hotkey"])
    if summary is None:
        summary = miner_summary(found["hotkey"], [], {found["hotkey"]: found["uid"]})
    return {
        "netuid": every["netuid"],
        "pool": every["pool"],
        "per_env_limit": every["per_env_limit"],
        **summary,
    }


async def env_samples(reads: StatusReads, request: Request) -> dict[str, Any]:
    name = str(request.path_params["name"])
    if len(name) > MAX_ENV_NAME:
        raise BadRequest(f"an env name has at most {MAX_ENV_NAME} characters")
    every = await reads.value("samples")
    summary = every["envs"].get(name)
    if summary is None:
        known = ", ".join(every["envs"]) or "none"
        raise NotFound(f"no env {name!r} (the contest's envs: {known})")
    return {
        "netuid": every["netuid"],
        "pool": every["pool"],
        "per_env_limit": every["per_env_limit"],
        **summary,
    }


async def audit(reads: StatusReads, request: Request) -> dict[str, Any]:
    return await reads.audit()


async def miner_battles(reads: StatusReads, request: Request) -> dict[str, Any]:
    """Every battle the miner fought, as challenger or as champion, oldest first (each with
    its ``number`` in the history)."""
    found = await miner(reads, request)
    hotkey = found["hotkey"]
    battles = (await reads.value("history"))["battles"]
    fought = [
        {"number": i, "role": "challenger" if b["challenger"] == hotkey else "champion", **b}
        for i, b in enumerate(battles, start=1)
        if hotkey in (b["challenger"], b["champion"])
    ]
    page = page_of(request)
    return {"hotkey": hotkey, "battles": page.of(fought), "page": page.describe(len(fought))}
