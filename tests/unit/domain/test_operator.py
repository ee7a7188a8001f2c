"""Operator actions: each a command of the contest with its rule, recorded with its reason."""

from __future__ import annotations

import math

import pytest

from tests.support.contest import Driver, fixed, small_config
from throne.application import ThroneApplication
from throne.domain.contest.contest import Contest
from throne.domain.contest.operator import Operations, Refused


def crowned(**config: object) -> Driver:
    d = Driver(small_config(burn=0.25, **config))
    for i, hk in enumerate(("champ", "chal", "next")):
        d.join(hk, block=1 + i)
    d.sync()
    assert d.tick(5) == ["pool_refreshed"]
    assert d.tick(6) == ["crowned"]
    return d


def battling() -> Driver:
    d = crowned()
    d.score({"champ": fixed(0.5)})
    assert d.tick(7) == ["battle_started"]
    assert d.challenger() == "chal"
    return d


def refused(d: Driver, rule: str, action: str, **args: object) -> None:
    version = d.app.contest_version()
    with pytest.raises(Refused) as err:
        d.app.operate(action, "a reason", 8, **args)
    assert err.value.rule == rule
    assert d.app.contest_version() == version, "a refused action records nothing"


def last_event(d: Driver) -> Contest.Event:
    return next(iter(d.app.events.get(d.app.contest_id, desc=True, limit=1)))


def test_every_action_records_the_operators_reason_and_the_block() -> None:
    d = crowned()
    d.app.operate("blacklist", "  spams   the queue ", 9, hotkey="next")
    e = last_event(d)
    assert isinstance(e, Contest.Blacklisted)
    assert (e.hotkey, e.reason, e.block) == ("next", "spams the queue", 9)
    # Without a block, the newest block the log names.
    d.app.operate("set_burn", "maintenance", burn=0.5)
    e = last_event(d)
    assert isinstance(e, Contest.BurnSet) and e.block == 9 and e.burn == 0.5


def test_a_reason_is_required_and_bounded() -> None:
    d = crowned()
    refused_blank = pytest.raises(Refused, match="reason_required")
    with refused_blank:
        d.app.operate("pause", "   ", 8)
    with pytest.raises(Refused, match="reason_too_long"):
        d.app.operate("pause", "x" * 501, 8)


def test_a_blacklisted_miner_leaves_the_queue_and_comes_back_at_its_place() -> None:
    d = crowned()
    assert [q["hotkey"] for q in d.standings()["queue"]] == ["chal", "next"]
    d.app.operate("blacklist", "copying outputs", 8, hotkey="chal")
    assert [q["hotkey"] for q in d.standings()["queue"]] == ["next"]
    assert d.miner("chal")["blacklisted"] == "copying outputs"  # type: ignore[index]
    d.app.operate("unblacklist", "appeal granted", 9, hotkey="chal")
    assert [q["hotkey"] for q in d.standings()["queue"]] == ["chal", "next"]


def test_blacklisting_the_challenger_abandons_its_battle_without_a_release() -> None:
    d = battling()
    d.app.operate("blacklist", "abuse", 8, hotkey="chal")
    assert d.challenger() is None
    chal = d.miner("chal")
    assert chal is not None and chal["status"] == "queued" and chal["releases"] == 0
    # The next in the queue battles instead.
    assert d.tick(9) == ["battle_started"] and d.challenger() == "next"


def test_a_blacklisted_champion_keeps_the_throne_and_is_paid_nothing() -> None:
    d = crowned()
    assert d.app.weights()[1] == {1: 0.75, 0: 0.25}
    d.app.operate("blacklist", "sybil", 8, hotkey="champ")
    assert d.champion() == "champ"
    assert d.app.weights()[1] == {0: 1.0}
    assert d.standings()["weights"] == {"0": 1.0}
    d.app.operate("unblacklist", "cleared", 9, hotkey="champ")
    assert d.app.weights()[1] == {1: 0.75, 0: 0.25}


def test_blacklist_rules() -> None:
    d = crowned()
    refused(d, "unknown_hotkey", "blacklist", hotkey="nobody")
    refused(d, "not_blacklisted", "unblacklist", hotkey="chal")
    d.app.operate("blacklist", "r", 8, hotkey="chal")
    refused(d, "already_blacklisted", "blacklist", hotkey="chal")


@pytest.mark.parametrize("burn", [-0.01, 1.01, math.nan, math.inf])
def test_a_burn_outside_zero_to_one_is_refused(burn: float) -> None:
    refused(crowned(), "burn_out_of_range", "set_burn", burn=burn)


def test_the_operators_burn_holds_over_the_configurations() -> None:
    d = crowned()
    d.app.operate("set_burn", "halve emissions", 8, burn=0.5)
    assert d.app.weights()[1] == {1: 0.5, 0: 0.5}
    # A new configuration (the daemon restarted with another burn in its file) changes the
    # rules, not the operator's burn.
    d.app.config = small_config(burn=0.9)
    d.tick(10)
    kinds = [type(e) for e in d.app.events.get(d.app.contest_id)]
    assert Contest.Reconfigured in kinds
    assert d.app.weights()[1] == {1: 0.5, 0: 0.5}
    d.app.operate("set_burn", "back to normal", 11, burn=1.0)
    assert d.app.weights()[1] == {0: 1.0}


def test_a_pool_rotation_is_drawn_at_the_next_step_and_only_between_battles() -> None:
    d = battling()
    refused(d, "battle_in_progress", "order_pool_rotation")
    d = crowned(refresh_blocks=10_000)
    pool = d.pool()
    assert pool is not None
    d.app.operate("order_pool_rotation", "pool leaked", 8)
    refused(d, "rotation_already_ordered", "order_pool_rotation")
    assert d.tick(9) == ["pool_refreshed"]
    after = d.pool()
    assert after is not None and after["pool"] == pool["pool"] + 1
    assert not d.standings()["operations"]["pool_rotation_ordered"]
    assert d.tick(10) != ["pool_refreshed"]  # once, not at every step


def test_a_paused_contest_takes_no_step_owes_no_work_and_a_battle_gets_its_blocks_back() -> None:
    d = battling()
    deadline = d.standings()["battle"]["deadline_block"]
    assert d.app.pending_work()
    d.app.operate("pause", "upgrading the GPUs", 10)
    refused(d, "already_paused", "pause")
    assert d.app.pending_work() == []
    assert d.tick(deadline + 5) == []  # not even the deadline ends the battle while paused
    assert d.challenger() == "chal"
    assert d.standings()["operations"]["paused_since_block"] == 10
    d.app.operate("resume", "done", 30)
    refused(d, "not_paused", "resume")
    assert d.standings()["battle"]["deadline_block"] == deadline + 20
    assert d.app.pending_work()
    # Weights were never stopped: the champion is still paid.
    assert d.app.weights()[1] == {1: 0.75, 0: 0.25}


def test_an_empty_log_has_no_contest_to_act_on() -> None:
    app = ThroneApplication(small_config())
    with pytest.raises(Refused) as err:
        app.operate("pause", "r", 1)
    assert err.value.rule == "no_contest"


def test_operations_round_trip_and_a_snapshot_without_them_upcasts() -> None:
    ops = Operations(paused_at=3, burn=0.5, rotation_ordered=True)
    assert Operations.from_dict(ops.to_dict()) == ops
    state: dict[str, object] = {}
    Contest.upcast_v2_v3(state)
    assert state["operations"] == Operations()
