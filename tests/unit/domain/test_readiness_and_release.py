"""The readiness gate (a battle starts only when both sides answer) and releases of queued
miners (a deploy that failed before the battle), under the one bounded-release rule."""

from __future__ import annotations

import pytest

from tests.support.contest import Driver, fixed, small_config
from throne.domain.contest.contest import NoBattle
from throne.projections.read_side import ReadSide


def crowned_with_queue(d: Driver, *queued: str) -> None:
    d.join("champ", block=1)
    for i, hotkey in enumerate(queued):
        d.join(hotkey, block=2 + i)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    d.score({"champ": fixed(0.5)})


def only(*served: str):  # type: ignore[no-untyped-def]
    return lambda hotkey, revision: hotkey in served


def test_a_battle_waits_until_the_champion_and_the_queue_head_both_answer() -> None:
    d = Driver()
    crowned_with_queue(d, "chal")
    assert d.tick(4, ready=only("champ")) == []
    assert d.tick(5, ready=only("chal")) == []
    assert d.challenger() is None
    assert d.tick(6, ready=only("champ", "chal")) == ["battle_started"]
    assert d.challenger() == "chal"


def test_without_a_readiness_answer_everything_is_served_as_before() -> None:
    d = Driver()
    crowned_with_queue(d, "chal")
    assert d.tick(4) == ["battle_started"]


def test_crowning_an_empty_throne_needs_no_answer() -> None:
    d = Driver()
    d.join("champ", block=1)
    d.sync()
    assert d.tick(2, ready=only()) == ["pool_refreshed"]
    assert d.tick(3, ready=only()) == ["crowned"]


def test_an_ongoing_battle_goes_on_whatever_the_readiness() -> None:
    d = Driver()
    crowned_with_queue(d, "chal")
    assert d.tick(4) == ["battle_started"]
    d.score({"chal": fixed(0.0)})
    assert d.tick(5, ready=only()) == ["terminated"]


def test_a_queued_miner_released_keeps_its_place_and_the_battle_goes_on() -> None:
    d = Driver()
    crowned_with_queue(d, "chal", "next")
    assert d.tick(4) == ["battle_started"]
    d.app.release("next", "deploy_failed:port_taken", 5)
    assert d.challenger() == "chal", "another miner's release leaves the battle alone"
    assert d.miner("next")["releases"] == 1  # type: ignore[index]
    assert d.status("next") == "queued"
    reads = ReadSide(d.app)
    with reads.read() as r:  # the read side agrees with the aggregate
        s = r.standings()
        assert s.battle is not None and s.battle.hotkey == "chal"
        assert [b["result"] for b in r.history().battles] == ["ongoing"]
    reads.close()


def test_a_release_before_a_second_battle_leaves_the_first_battles_end_as_it_was() -> None:
    d = Driver()
    crowned_with_queue(d, "chal")
    assert d.tick(4) == ["battle_started"]
    d.app.release("chal", "unhealthy:exited:1", 5)
    d.app.release("chal", "deploy_failed:port_taken", 6)
    reads = ReadSide(d.app)
    with reads.read() as r:
        [battle] = r.history().battles
    reads.close()
    assert (battle["result"], battle["reason"], battle["ended_block"]) == (
        "released",
        "unhealthy:exited:1",
        5,
    )


def test_the_queue_head_released_between_battles_stays_head() -> None:
    d = Driver()
    crowned_with_queue(d, "chal", "next")
    d.app.release("chal", "deploy_failed:never_ready:60s", 4)
    assert d.status("chal") == "queued"
    assert d.miner("chal")["releases"] == 1  # type: ignore[index]
    assert d.tick(5) == ["battle_started"]
    assert d.challenger() == "chal"


def test_releases_of_a_queued_miner_are_bounded_then_unservable() -> None:
    d = Driver(small_config(max_releases=2))
    crowned_with_queue(d, "chal", "next")
    for block in (4, 5):
        d.app.release("chal", "deploy_failed:exited:1", block)
        assert d.status("chal") == "queued"
    d.app.release("chal", "deploy_failed:exited:1", 6)
    assert d.reason("chal") == "unservable"
    assert d.tick(7) == ["battle_started"]
    assert d.challenger() == "next"


def test_queued_and_battling_releases_count_toward_one_bound() -> None:
    d = Driver(small_config(max_releases=1))
    crowned_with_queue(d, "chal")
    d.app.release("chal", "deploy_failed:port_taken", 4)
    assert d.tick(5) == ["battle_started"]
    d.app.release("chal", "unhealthy:exited:137", 6)
    assert d.reason("chal") == "unservable"
    assert d.challenger() is None


def test_releasing_the_battling_challenger_is_release_challenger() -> None:
    d = Driver()
    crowned_with_queue(d, "chal")
    assert d.tick(4) == ["battle_started"]
    d.app.release("chal", "unhealthy:not_answering", 5)
    assert d.challenger() is None
    assert d.miner("chal")["releases"] == 1  # type: ignore[index]


def test_a_miner_neither_battling_nor_queued_cannot_be_released() -> None:
    d = Driver()
    crowned_with_queue(d)
    with pytest.raises(NoBattle):
        d.app.release("champ", "unhealthy:x", 4)
    with pytest.raises(KeyError):
        d.app.release("nobody", "deploy_failed:x", 4)
