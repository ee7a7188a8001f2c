"""The status API's snapshots: one build per change of the log, however many readers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.clock import FakeClock
from throne.observability.read_cache import ReadCache


class Log:
    """A log position and a count of how often it was asked."""

    def __init__(self) -> None:
        self.head = 7
        self.asked = 0

    def position(self) -> int:
        self.asked += 1
        return self.head


def test_many_reads_between_two_changes_of_the_log_build_once() -> None:
    log = Log()
    cache = ReadCache(log.position, check_every=0)  # the log is asked on every read
    built: list[int] = []

    def build() -> str:
        built.append(log.head)
        return f"rank at {log.head}"

    with ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(lambda _: cache.read("rank", build), range(200)))
    assert set(seen) == {"rank at 7"} and built == [7] and cache.builds["rank"] == 1
    log.head = 8  # a new event
    assert cache.read("rank", build) == "rank at 8"
    with ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(lambda _: cache.read("rank", build), range(200)))
    assert set(seen) == {"rank at 8"} and built == [7, 8]


def test_the_log_is_asked_at_most_once_per_interval_and_a_change_shows_after_it() -> None:
    log, clock = Log(), FakeClock(50.0)
    cache = ReadCache(log.position, check_every=1.0, clock=clock)
    assert cache.read("rank", lambda: log.head) == 7
    log.head = 8
    for _ in range(100):
        assert cache.fresh("rank") == 7  # within the interval: no query at all
        assert cache.read("rank", lambda: log.head) == 7
    assert log.asked == 1
    clock.now += 1.0
    assert cache.fresh("rank") is None
    assert cache.read("rank", lambda: log.head) == 8
    assert log.asked == 2 and cache.builds["rank"] == 2


def test_while_one_reader_rebuilds_the_others_get_the_previous_snapshot_at_once() -> None:
    log = Log()
    cache = ReadCache(log.position, check_every=0)
    assert cache.read("rank", lambda: "old") == "old"
    log.head = 8
    building, finish = threading.Event(), threading.Event()

    def slow() -> str:
        building.set()
        finish.wait(30)
        return "new"

    with ThreadPoolExecutor(1) as pool:
        rebuilt = pool.submit(cache.read, "rank", slow)
        assert building.wait(30)
        # The build holds on; other readers neither wait for it nor start their own.
        assert [cache.read("rank", lambda: "again") for _ in range(50)] == ["old"] * 50
        finish.set()
        assert rebuilt.result(30) == "new"
    assert cache.read("rank", lambda: "again") == "new" and cache.builds["rank"] == 2


def test_each_read_has_a_snapshot_of_its_own() -> None:
    log = Log()
    cache = ReadCache(log.position, check_every=0)
    assert cache.read("rank", lambda: "r") == "r"
    assert cache.read("history", lambda: "h") == "h"
    assert cache.read("rank", lambda: "other") == "r"
    assert dict(cache.builds) == {"rank": 1, "history": 1}


def test_a_build_that_fails_is_tried_again_by_the_next_reader() -> None:
    log = Log()
    cache = ReadCache(log.position, check_every=0)
    assert cache.read("rank", lambda: "old") == "old"
    log.head = 8

    def broken() -> str:
        raise OSError("the log went away")

    with pytest.raises(OSError):
        cache.read("rank", broken)
    assert cache.read("rank", lambda: "new") == "new"
