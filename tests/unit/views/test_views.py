"""The read views over a contest driven through its transitions by the real application."""

from __future__ import annotations

import json

import pytest

from tests.support.contest import Driver, fixed
from tests.support.story import BAD_UID, CHAL_UID, IDLE_UID, WEAK_UID, tell
from throne import views
from throne.projections.read_side import ReadSide


@pytest.fixture(scope="module")
def told() -> Driver:
    return tell(Driver())


def test_an_empty_log_reads_as_no_champion_no_battle_and_everything_to_uid_0() -> None:
    reads = Driver().reads
    r = views.rank(reads)
    assert (r["champion"], r["battle"], r["pool"], r["block"]) == (None, None, None, None)
    assert r["queue"] == [] and r["rows"] == []
    assert r["counts"] == {"miners": 0, "valid": 0, "invalid": 0, "queued": 0, "terminated": 0}
    assert views.history(reads) == {
        "netuid": 120,
        "reigns": [],
        "battles": [],
        "battles_decided": 0,
        "terminated": [],
        "operator_actions": [],
    }
    assert views.weights(reads)["weights"] == {"0": 1.0}


def test_rank_shows_the_champion_since_the_block_it_took_the_crown(told: Driver) -> None:
    champion = views.rank(told.reads)["champion"]
    assert champion["hotkey"] == "chal" and champion["uid"] == CHAL_UID
    assert champion["since_block"] == 5
    assert champion["cells"]["SAT"] == {"mean": pytest.approx(0.9), "n": 5}
    assert champion["completeness"]["SAT"] == {"scored": 5, "needed": 5}
    assert champion["complete"] is True


def test_rank_shows_the_battle_progress_per_env_against_the_thresholds(told: Driver) -> None:
    battle = views.rank(told.reads)["battle"]
    assert battle["hotkey"] == "late" and battle["started_block"] == 7
    sat, abd = battle["progress"]["SAT"], battle["progress"]["ABD"]
    assert (sat["common"], sat["needed"]) == (2, 4)
    assert sat["challenger_mean"] == 1.0 and sat["champion_mean"] == pytest.approx(0.9)
    assert sat["dominant_threshold"] == pytest.approx(0.93)
    assert sat["not_worse_threshold"] == pytest.approx(0.9 * 0.98)
    assert abd["common"] == 0
    assert battle["champion_complete"] is True


def test_rank_shows_the_pool_commitment_but_never_its_seed_or_task_ids(told: Driver) -> None:
    r = views.rank(told.reads)
    assert r["pool"]["pool"] == 1 and r["pool"]["block"] == 2
    assert len(r["pool"]["seed_commitment"]) == 64
    assert r["pool"]["sizes"] == {"SAT": 5, "ABD": 5}
    text = json.dumps(r)
    assert "task_ids" not in text and '"seed"' not in text
    assert set(r["pool"]) == {"pool", "block", "seed_commitment", "sizes"}


def test_rank_lists_the_queue_with_positions_and_counts_valid_and_invalid(told: Driver) -> None:
    r = views.rank(told.reads)
    assert [(q["position"], q["hotkey"], q["uid"]) for q in r["queue"]] == [(1, "idle", IDLE_UID)]
    assert r["counts"] == {"miners": 6, "valid": 5, "invalid": 1, "queued": 1, "terminated": 2}
    assert r["block"] == 7


def test_rank_lists_recent_terminations_newest_first_with_reasons(told: Driver) -> None:
    recent = views.rank(told.reads)["recent_terminations"]
    assert [(t["hotkey"], t["block"], t["reason"]) for t in recent] == [
        ("weak", 7, "lost_to_champion:early_regression_in_SAT"),
        ("champ", 5, "dethroned_by:chal"),
    ]
    assert recent[0]["verdict"]["winner"] == "champion"
    assert [t["hotkey"] for t in views.rank(told.reads, recent=1)["recent_terminations"]] == [
        "weak"
    ]


def test_rank_rows_go_champion_then_active_then_inactive_with_status_labels(
    told: Driver,
) -> None:
    rows = views.rank(told.reads)["rows"]
    assert [(r["hotkey"], r["label"]) for r in rows] == [
        ("chal", "CHAMPION"),
        ("late", "BATTLING"),
        ("idle", "QUEUE #1"),
        ("champ", "TERMINATED"),
        ("weak", "TERMINATED"),
        ("bad", "invalid_jso"),
    ]
    assert [r["weight"] for r in rows] == [1.0, 0, 0, 0, 0, 0]


def test_a_terminated_challengers_cells_are_frozen_at_its_verdict(told: Driver) -> None:
    weak = next(r for r in views.rank(told.reads)["rows"] if r["hotkey"] == "weak")
    # The verdict compared the first sampling_count (4) tasks of the pool's order, of 5.
    assert weak["cells"]["SAT"] == {
        "mean": pytest.approx(0.1),
        "n": 4,
        "lower": pytest.approx(0.882),
        "upper": pytest.approx(0.93),
    }
    late = next(r for r in views.rank(told.reads)["rows"] if r["hotkey"] == "late")
    assert late["cells"]["SAT"]["n"] == 2 and late["cells"]["ABD"] is None


def test_history_tells_each_reign_and_how_the_crown_changed_hands(told: Driver) -> None:
    reigns = views.history(told.reads)["reigns"]
    assert [(r["hotkey"], r["from_block"], r["to_block"]) for r in reigns] == [
        ("champ", 3, 5),
        ("chal", 5, None),
    ]
    assert reigns[0]["taken_by"] == {"how": "cold_start", "reason": "cold_start"}
    assert reigns[0]["ended_by"] == {"how": "dethroned", "by": "chal"}
    taken = reigns[1]["taken_by"]
    assert taken["how"] == "dethrone" and taken["from"] == "champ"
    assert taken["verdict"]["winner"] == "challenger"
    assert taken["verdict"]["per_env"]["SAT"]["verdict"] == "dominant"
    assert taken["verdict"]["per_env"]["SAT"]["challenger_mean"] == pytest.approx(0.9)


def test_history_counts_decided_battles_but_not_the_one_in_progress(told: Driver) -> None:
    h = views.history(told.reads)
    assert [(b["challenger"], b["result"]) for b in h["battles"]] == [
        ("chal", "dethroned"),
        ("weak", "terminated"),
        ("late", "ongoing"),
    ]
    assert h["battles_decided"] == 2
    assert h["battles"][1]["champion"] == "chal"


def test_a_reign_ends_when_an_unservable_champion_abdicates() -> None:
    d = Driver()
    d.join("champ", block=1)
    d.sync()
    d.tick(2)
    d.tick(3)
    # The champion never scores a sample; after max_champion_missed_pools refreshes it goes.
    d.tick(103)
    steps = d.tick(203)
    assert steps[0] == "pool_refreshed"
    reigns = views.history(d.reads)["reigns"]
    assert reigns[0]["ended_by"] == {"how": "terminated", "reason": "unservable_champion"}
    assert reigns[0]["to_block"] == 203


def test_a_released_challenger_shows_as_a_released_battle() -> None:
    d = Driver()
    d.join("champ", block=1)
    d.join("chal", block=2)
    d.sync()
    d.tick(2)
    d.tick(3)
    d.score({"champ": fixed(0.5)})
    assert d.tick(4) == ["battle_started"]
    d.app.release_challenger(5, "deploy_failed")
    battle = views.history(d.reads)["battles"][0]
    assert (battle["result"], battle["reason"], battle["ended_block"]) == (
        "released",
        "deploy_failed",
        5,
    )
    assert views.history(d.reads)["battles_decided"] == 0


def test_miner_is_found_by_hotkey_or_by_the_uid_it_sits_at(told: Driver) -> None:
    by_uid = views.miner(told.reads, str(WEAK_UID))
    by_hotkey = views.miner(told.reads, "weak")
    assert by_uid == by_hotkey
    assert by_uid is not None and by_uid["terminated_reason"].startswith("lost_to_champion")
    assert [e["event"] for e in by_uid["events"]] == ["Committed", "BattleStarted", "Terminated"]
    assert by_uid["events"][-1]["verdict"]["winner"] == "champion"
    assert views.miner(told.reads, WEAK_UID) == by_uid


def test_miner_shows_queue_position_weight_and_invalid_reason(told: Driver) -> None:
    idle = views.miner(told.reads, "idle")
    assert idle is not None and idle["queue_position"] == 1 and idle["weight"] == 0.0
    chal = views.miner(told.reads, str(CHAL_UID))
    assert chal is not None and chal["weight"] == 1.0
    assert [e["event"] for e in chal["events"]][-2:] == ["BattleStarted", "Dethroned"]
    assert chal["events"][-1]["beat"] == "champ"
    bad = views.miner(told.reads, str(BAD_UID))
    assert bad is not None and bad["valid"] is False and bad["invalid_reason"] == "invalid_json"


def test_an_unknown_hotkey_or_uid_finds_no_miner(told: Driver) -> None:
    assert views.miner(told.reads, "nobody") is None
    assert views.miner(told.reads, "99") is None


def test_weights_give_the_current_vector_and_the_last_recorded_submission(told: Driver) -> None:
    w = views.weights(told.reads)
    assert w["weights"] == {str(CHAL_UID): 1.0}
    assert w["champion"]["hotkey"] == "chal"
    d = tell(Driver())
    d.app.record_weights(
        block=9,
        weights={CHAL_UID: 1.0},
        u16=[(CHAL_UID, 65535)],
        ok=False,
        extrinsic=None,
        error="rate_limited",
        contest_version=d.app.contest_version(),
    )
    last = views.weights(d.reads)["last_submission"]
    assert last["block"] == 9 and last["ok"] is False and last["error"] == "rate_limited"
    assert last["u16"] == [[CHAL_UID, 65535]]


def test_every_view_is_plain_json(told: Driver) -> None:
    for value in (
        views.rank(told.reads),
        views.history(told.reads),
        views.miner(told.reads, "late"),
        views.weights(told.reads),
    ):
        assert json.loads(json.dumps(value)) == value


def _every_view(reads: ReadSide) -> list[object]:
    return [
        views.rank(reads),
        views.history(reads),
        views.weights(reads),
        *(views.miner(reads, who) for who in ("champ", "chal", "weak", "bad", "4", "7")),
    ]


def test_a_long_lived_read_side_applies_only_new_events_and_reads_as_one_built_afresh() -> None:
    d = Driver()
    reads = d.reads

    def check() -> None:
        afresh = ReadSide(d.app)
        try:
            assert _every_view(reads) == _every_view(afresh)
        finally:
            afresh.close()
        assert reads.catch_up() == 0  # nothing new since the read

    d.join("champ", block=1, uid=1)
    d.join("chal", block=2, uid=2)
    d.sync()
    check()
    d.tick(2)
    d.tick(3)
    d.score({"champ": fixed(0.2)})
    check()
    d.join("weak", block=3, uid=3)
    d.chain.register("bad", 4)
    d.chain.commit("bad", text="not a commitment", block=4)
    d.sync()
    d.tick(4)
    d.score({"chal": fixed(0.9)})
    d.tick(5)
    check()
    d.chain.neurons["weak"] = 7  # moves: one Registered event about weak
    d.sync()
    # One event, which the standings and the history each follow: applied once by each.
    assert reads.catch_up() == 2
    d.score({"weak": fixed(0.1)})
    d.tick(7)
    check()
    assert views.history(reads)["battles_decided"] >= 2
