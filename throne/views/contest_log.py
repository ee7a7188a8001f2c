"""The contest's own log as the views read it: its events, its recorded rules, its last block."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from throne.application import ThroneApplication
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest


def contest_events(app: ThroneApplication, *, newest_first: bool = False) -> Iterator[Any]:
    """The contest aggregate's events (decisions and miners, never samples), lazily decoded."""
    return app.events.get(app.contest_id, desc=newest_first)


def recorded_config(app: ThroneApplication) -> ContestConfig:
    """The rules the log was decided by (the latest recorded), not the reader's defaults."""
    try:
        contest: Contest = app.repository.get(app.contest_id)
    except AggregateNotFoundError:
        return app.config
    return contest.settings


def last_block(app: ThroneApplication, scan: int = 50) -> int | None:
    """The chain block of the newest contest event that names one (the log's "now")."""
    for event in islice(contest_events(app, newest_first=True), scan):
        block = getattr(event, "block", None)
        if isinstance(block, int):
            return block
    return None
