"""The contest's own log as the views read it: its events, its recorded rules, its last block,
and an index of its events kept up to date incrementally.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from throne.application import ThroneApplication
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.rules import Verdict
from throne.views.timeline import summarize_verdict


def contest_events(app: ThroneApplication, *, newest_first: bool = False) -> Iterator[Any]:
    """The contest aggregate's events (decisions and miners, never samples), lazily decoded."""
    return app.events.get(app.contest_id, desc=newest_first)


def recorded_config(app: ThroneApplication) -> ContestConfig:
    """The rules the log was decided by (the latest recorded), not the reader's defaults."""
    try:
        contest: Contest = app.repository.get(app.contest_id)
    except AggregateNotFoundError:
        return app.config
    return contest.config


def last_block(app: ThroneApplication, scan: int = 50) -> int | None:
    """The chain block of the newest contest event that names one (the log's "now")."""
    for event in app.events.get(app.contest_id, desc=True, limit=scan):
        block = getattr(event, "block", None)
        if isinstance(block, int):
            return block
    return None


#: The events the timelines fold (reigns, battles, terminations): commits and decisions, not the
#: registration churn that makes up most of a long contest stream.
TIMELINE_EVENTS = (
    Contest.Committed,
    Contest.ChampionCrowned,
    Contest.BattleStarted,
    Contest.ChallengerReleased,
    Contest.Dethroned,
    Contest.Terminated,
)


@dataclass
class _Index:
    version: int = 0
    timeline: list[Any] = field(default_factory=list)
    about: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# One index per application and contest, so that a long-lived reader (the status API) decodes
# each event once, not on every request.
_indexes: weakref.WeakKeyDictionary[ThroneApplication, dict[UUID, _Index]] = (
    weakref.WeakKeyDictionary()
)
_indexes_lock = threading.Lock()


@contextmanager
def _current_index(app: ThroneApplication) -> Iterator[_Index]:
    """The contest's index, with the events appended since the last call added, held locked."""
    with _indexes_lock:
        index = _indexes.setdefault(app, {}).setdefault(app.contest_id, _Index())
    with index.lock:
        for event in app.events.get(app.contest_id, gt=index.version):
            index.version = event.originator_version
            if isinstance(event, TIMELINE_EVENTS):
                index.timeline.append(event)
            for hotkey, said in describe(event):
                index.about.setdefault(hotkey, []).append(said)
        yield index


def timeline_events(app: ThroneApplication) -> list[Any]:
    """The contest's commits and decisions (:data:`TIMELINE_EVENTS`), oldest first."""
    with _current_index(app) as index:
        return list(index.timeline)


def said_about(app: ThroneApplication, hotkey: str) -> list[dict[str, Any]]:
    """What the contest's events say about ``hotkey``, oldest first, as short dicts."""
    with _current_index(app) as index:
        return [dict(said) for said in index.about.get(hotkey, ())]


def said_about_everyone(app: ThroneApplication) -> dict[str, list[dict[str, Any]]]:
    """`said_about` for every hotkey at once, by hotkey (a copy: later events do not show)."""
    with _current_index(app) as index:
        return {hotkey: [dict(s) for s in said] for hotkey, said in index.about.items()}


def describe(e: Any) -> list[tuple[str, dict[str, Any]]]:
    """The hotkeys an event is about, each with what it says of it."""
    if isinstance(e, Contest.Dethroned):
        new, old = e.new_champion.hotkey, e.old_champion.hotkey
        won = {"event": "Dethroned", "block": e.block, "beat": old, **_verdict(e.verdict)}
        return [(new, won), (old, {"event": "Dethroned", "block": e.block, "lost_to": new})]
    hotkey = getattr(e, "hotkey", None)
    about = _own(e) if isinstance(hotkey, str) else None
    return [] if about is None else [(str(hotkey), {"event": type(e).__name__, **about})]


def _own(e: Any) -> dict[str, Any] | None:
    if isinstance(e, Contest.Committed):
        return {"block": e.first_block, "uid": e.uid, "model": e.model, "revision": e.revision}
    if isinstance(e, Contest.Terminated):
        return {"block": e.block, "reason": e.reason, **_verdict(e.verdict)}
    if isinstance(e, Contest.Invalidated | Contest.ChallengerReleased | Contest.ChampionCrowned):
        return {"block": e.block, "reason": e.reason}
    if isinstance(e, Contest.BattleStarted):
        return {"block": e.block, "deadline_block": e.deadline_block, "pool": e.pool}
    if isinstance(e, Contest.Registered):
        return {"block": e.block, "uid": e.uid}
    if isinstance(e, Contest.Deregistered):
        return {"block": e.block}
    if isinstance(e, Contest.ModelHashRecorded):
        return {"model_hash": e.model_hash}
    return None


def _verdict(verdict: Verdict | None) -> dict[str, Any]:
    return {} if verdict is None else {"verdict": summarize_verdict(verdict.to_dict())}
