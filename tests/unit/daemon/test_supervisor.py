"""The supervisor restarts failing loops with a delay that resets once they work again, and
brackets each run of failures with an ``outage_started`` and an ``outage_ended`` log line."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.support.clock import FakeClock
from throne.daemon.supervisor import Backoff, Supervisor, progressed
from throne.observability.outages import Outages

FIRST = 0.01


def scripted(runs: list[str], stop: asyncio.Event) -> Callable[[asyncio.Event], Any]:
    """A loop that plays one entry of ``runs`` per start: ``fail`` raises at once, ``work``
    completes an iteration and then raises, ``db`` raises a database error, ``recover``
    completes an iteration and stops, ``done`` stops."""

    async def loop(_: asyncio.Event) -> None:
        what = runs.pop(0)
        if what in ("done", "recover"):
            if what == "recover":
                progressed()
            stop.set()
            return
        if what == "work":
            # An iteration that completes, reported from a thread as loops that block do.
            await asyncio.to_thread(progressed)
            raise RuntimeError("failed after an iteration that worked")
        if what == "db":
            raise sqlite3.OperationalError("database is locked")
        raise RuntimeError("failed at once")

    return loop


def retry_delays(runs: list[str], max_backoff: float = 30.0) -> tuple[list[float], list[Any]]:
    outages = Outages()
    supervisor = Supervisor(outages, first_backoff=FIRST, max_backoff=max_backoff)
    stop = asyncio.Event()
    with capture_logs() as logs:
        asyncio.run(supervisor.run("probe", scripted(list(runs), stop), stop))
    delays = [e["retry_in_s"] for e in logs if e["event"] == "loop_failed"]
    return delays, logs


def test_the_retry_delay_doubles_while_a_loop_keeps_failing() -> None:
    delays, _ = retry_delays(["fail", "fail", "fail", "fail", "done"])
    assert delays == [FIRST, 2 * FIRST, 4 * FIRST, 8 * FIRST]


def test_the_retry_delay_never_exceeds_its_cap() -> None:
    delays, _ = retry_delays(["fail"] * 5 + ["done"], max_backoff=3 * FIRST)
    assert delays == [FIRST, 2 * FIRST, 3 * FIRST, 3 * FIRST, 3 * FIRST]


def test_the_retry_delay_resets_after_a_loop_works_again() -> None:
    # fails, works (then fails), fails: the third wait is the first delay again, not 4x it.
    delays, _ = retry_delays(["fail", "fail", "work", "fail", "done"])
    assert delays == [FIRST, 2 * FIRST, FIRST, 2 * FIRST]


def test_a_run_of_failures_is_one_outage_logged_when_it_starts_and_when_it_ends() -> None:
    _, logs = retry_delays(["db", "db", "db", "recover"])
    bracket = [e for e in logs if e["event"].startswith("outage")]
    assert [e["event"] for e in bracket] == ["outage_started", "outage_ended"]
    started, ended = bracket
    assert started["loop"] == "probe" and started["cause"] == "database"
    assert "database is locked" in started["error"]
    assert ended["loop"] == "probe" and ended["failures"] == 3
    assert ended["duration_s"] >= (1 + 2 + 4) * FIRST  # the three waits between the failures


def test_a_failure_after_a_recovery_opens_a_new_outage() -> None:
    _, logs = retry_delays(["db", "work", "fail", "recover"])
    events = [(e["event"], e.get("cause")) for e in logs if e["event"].startswith("outage")]
    assert events == [
        ("outage_started", "database"),
        ("outage_ended", "database"),
        ("outage_started", "error"),
        ("outage_ended", "error"),
    ]


def test_an_outage_ends_with_its_duration_and_the_number_of_failures() -> None:
    clock = FakeClock(100.0)
    seen: list[tuple[str, bool]] = []
    outages = Outages(clock, listener=lambda loop, active: seen.append((loop, active)))
    with capture_logs() as logs:
        outages.failed("sampler", "OperationalError: server closed the connection", "database")
        clock.now += 5
        outages.failed("sampler", "OperationalError: connection refused", "database")
        assert outages.describe()["sampler"] == {
            "cause": "database",
            "error": "OperationalError: connection refused",
            "seconds": 5.0,
            "failures": 2,
        }
        clock.now += 7.5
        assert outages.succeeded("sampler") == pytest.approx(12.5)
        assert outages.succeeded("sampler") is None  # nothing open: nothing logged
    assert [e["event"] for e in logs] == ["outage_started", "outage_ended"]
    assert logs[1]["duration_s"] == 12.5 and logs[1]["failures"] == 2
    assert seen == [("sampler", True), ("sampler", False)]
    assert outages.describe() == {}


def test_a_loop_that_works_without_failing_logs_no_outage() -> None:
    stop = asyncio.Event()

    async def loop(s: asyncio.Event) -> None:
        for _ in range(3):
            progressed()
        stop.set()

    outages = Outages()
    with capture_logs() as logs:
        asyncio.run(Supervisor(outages).run("quiet", loop, stop))
    assert not [e for e in logs if e["event"].startswith(("outage", "loop_failed"))]


def test_progress_outside_a_supervised_loop_is_ignored() -> None:
    progressed()  # a sampler run by `throne worker`, or a test: nothing to tell


def test_backoff_starts_over_after_reset() -> None:
    b = Backoff(1.0, 8.0)
    assert [b.next() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    b.reset()
    assert b.next() == 1.0


def test_a_loop_blocked_in_a_call_is_in_outage_until_the_call_returns() -> None:
    # A call that neither returns nor fails, as on a database server that stopped answering.
    outages = Outages()
    supervisor = Supervisor(outages, stall_after=0.2)
    stop = asyncio.Event()
    release = threading.Event()

    async def loop(_: asyncio.Event) -> None:
        await asyncio.to_thread(release.wait, 60)
        progressed()
        stop.set()

    async def main() -> dict[str, Any]:
        task = asyncio.create_task(supervisor.run("blocked", loop, stop))
        deadline = time.monotonic() + 30
        while "blocked" not in outages.current() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        seen = outages.describe()
        release.set()
        await task
        return seen

    with capture_logs() as logs:
        seen = asyncio.run(main())
    assert seen["blocked"]["cause"] == "stalled" and seen["blocked"]["failures"] == 0
    assert "no iteration completed" in seen["blocked"]["error"]
    bracket = [e for e in logs if e["event"].startswith("outage")]
    assert [e["event"] for e in bracket] == ["outage_started", "outage_ended"]
    assert bracket[1]["cause"] == "stalled" and bracket[1]["duration_s"] > 0
    assert outages.current() == {}


def test_a_loop_that_keeps_progressing_is_never_called_stalled() -> None:
    # moved by the loop: five seconds in all, never more than 0.05 s unreported
    clock = FakeClock(100.0)
    outages = Outages(clock)
    stop = asyncio.Event()

    async def loop(_: asyncio.Event) -> None:
        for _ in range(100):
            clock.now += 0.05
            progressed()
            await asyncio.sleep(0.005)
        stop.set()

    with capture_logs() as logs:
        asyncio.run(Supervisor(outages, stall_after=0.2, clock=clock).run("busy", loop, stop))
    assert not [e for e in logs if e["event"].startswith("outage")]
