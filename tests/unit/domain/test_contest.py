"""Transitions of the contest, driven through the application service."""

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest

from tests.support.contest import Driver, commitment_text, fixed, fraction, small_config
from throne.application import ThroneApplication
from throne.domain.contest.contest import Contest, NoBattle
from throne.domain.contest.samples import Sample


def crowned(d: Driver, champion: str = "champ") -> None:
    d.join(champion, block=1)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    assert d.champion() == champion


def in_battle(d: Driver, challenger: str = "chal", champ_skill: float = 0.5) -> None:
    crowned(d)
    d.join(challenger, block=2)
    d.sync()
    d.score({"champ": fixed(champ_skill)})
    assert d.tick(4) == ["battle_started"]
    assert d.challenger() == challenger


def test_first_tick_draws_a_pool_and_does_nothing_else() -> None:
    d = Driver()
    d.join("a")
    d.sync()
    assert d.tick(1) == ["pool_refreshed"]
    assert d.champion() is None
    pool = d.pool()
    assert pool is not None and len(pool["task_ids"]["SAT"]) == 5  # ceil(4 * 1.1)
    assert "seed" not in pool


def test_cold_start_crowns_the_queue_head_without_a_contest() -> None:
    d = Driver()
    d.join("late", block=9, uid=1)
    d.join("early", block=3, uid=2)
    d.sync()
    d.tick(10)
    assert d.tick(11) == ["crowned"]
    assert d.champion() == "early"
    assert d.app.weights()[1] == {2: 1.0}


def test_queue_order_is_first_block_then_uid() -> None:
    d = Driver()
    d.join("b", block=5, uid=9)
    d.join("a", block=5, uid=4)
    d.join("c", block=2, uid=20)
    d.sync()
    assert [m["hotkey"] for m in d.standings()["queue"]] == ["c", "a", "b"]
    assert [m["position"] for m in d.standings()["queue"]] == [1, 2, 3]


def test_battle_waits_until_the_champion_has_scored_95_percent_of_every_env() -> None:
    d = Driver()
    crowned(d)
    d.join("chal", block=2)
    d.sync()
    assert d.tick(4) == []
    # Score only the SAT env for the champion: still incomplete.
    pending = [w for w in d.app.pending_work() if w.env == "SAT"]
    d.app.record_samples(
        [Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 1.0) for w in pending]
    )
    assert d.tick(5) == []
    d.score({"champ": fixed(1.0)})
    assert d.tick(6) == ["battle_started"]
    assert d.status("chal") == "battling"


def test_only_the_queue_head_is_challenged() -> None:
    d = Driver()
    crowned(d)
    d.join("second", block=8, uid=5)
    d.join("first", block=4, uid=6)
    d.sync()
    d.score({"champ": fixed(0.5)})
    d.tick(5)
    assert d.challenger() == "first"
    assert d.status("second") == "queued"


def test_a_stronger_challenger_dethrones_and_the_old_champion_is_terminated() -> None:
    d = Driver()
    in_battle(d, champ_skill=0.2)
    d.score({"chal": fixed(0.9), "champ": fixed(0.2)})
    assert d.tick(5)[0] == "dethroned"
    assert d.champion() == "chal"
    assert d.reason("champ") == "dethroned_by:chal"
    assert d.status("champ") == "terminated"
    uid = d.miner("chal")["uid"]  # type: ignore[index]
    assert d.app.weights()[1] == {uid: 1.0}


def test_a_challenger_that_is_not_better_everywhere_is_terminated() -> None:
    d = Driver()
    in_battle(d, champ_skill=0.5)
    d.score({"chal": fixed(0.5)})
    assert d.tick(5) == ["terminated"]
    assert d.champion() == "champ"
    assert d.reason("chal") == "lost_to_champion:insufficient_dominant_envs:0<2"


def test_a_challenger_that_regresses_in_one_env_is_terminated_early() -> None:
    d = Driver()
    in_battle(d, champ_skill=1.0)
    pending = [w for w in d.app.pending_work() if w.hotkey == "chal" and w.env == "ABD"]
    d.app.record_samples(
        [Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 0.0) for w in pending]
    )
    assert d.tick(5) == ["terminated"]
    assert d.reason("chal") == "lost_to_champion:early_regression_in_ABD"


def test_the_decision_waits_for_sampling_count_common_tasks_in_every_env() -> None:
    d = Driver()
    in_battle(d, champ_skill=0.0)
    pending = [w for w in d.app.pending_work() if w.hotkey == "chal"][:3]
    d.app.record_samples(
        [Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 1.0) for w in pending]
    )
    assert d.tick(5) == []
    assert d.challenger() == "chal"


def test_model_errors_count_as_zero() -> None:
    d = Driver()
    in_battle(d, champ_skill=0.5)
    d.score({"chal": fixed(0.0)}, outcome="model_error")
    assert d.tick(5) == ["terminated"]
    assert d.reason("chal") == "lost_to_champion:early_regression_in_SAT"


def test_an_exact_duplicate_sample_is_ignored_and_a_conflicting_one_rejected() -> None:
    d = Driver()
    crowned(d)
    w = d.app.pending_work()[0]
    s = Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 1.0)
    assert d.app.record_samples([s]).accepted == 1
    assert d.app.record_samples([s]).duplicates == 1
    report = d.app.record_samples([Sample(w.pool, w.env, w.task_id, w.hotkey, w.revision, 0.0)])
    assert report.accepted == 0
    assert report.rejected[0][1].startswith("ConflictingSample")


def test_samples_outside_the_pool_or_for_miners_not_sampled_are_rejected() -> None:
    d = Driver()
    crowned(d)
    d.join("idle", block=5)
    d.sync()
    w = d.app.pending_work()[0]
    outside = next(t for t in range(40) if t not in d.pool()["task_ids"][w.env])  # type: ignore[index]
    report = d.app.record_samples(
        [
            Sample(w.pool, w.env, outside, w.hotkey, w.revision, 1.0),
            Sample(w.pool + 1, w.env, w.task_id, w.hotkey, w.revision, 1.0),
            Sample(w.pool, w.env, w.task_id, "idle", "r1", 1.0),
            Sample(w.pool, "NOPE", w.task_id, w.hotkey, w.revision, 1.0),
        ]
    )
    assert [r for _, r in report.rejected] == [
        f"task_not_in_pool:{w.env}#{outside}",
        f"not_current_pool:{w.pool + 1}!={w.pool}",
        "miner_not_sampled",
        f"task_not_in_pool:NOPE#{w.task_id}",
    ]


def test_infra_errors_release_the_challenger_back_to_its_place() -> None:
    d = Driver()
    in_battle(d)
    d.join("later", block=50)
    d.sync()
    d.score({"chal": fixed(0.0)}, outcome="infra_error")
    assert d.tick(5) == ["released", "battle_started"]
    assert d.challenger() == "chal"  # still the queue head
    assert d.miner("chal")["releases"] == 1  # type: ignore[index]


def test_a_challenger_released_max_releases_times_is_terminated_unservable() -> None:
    d = Driver(small_config(max_releases=2))
    in_battle(d)
    for block in (10, 11, 12):
        d.app.release_challenger(block, "deploy_failed")
        d.tick(block)
    assert d.reason("chal") == "unservable"


def test_release_without_a_battle_is_refused() -> None:
    d = Driver()
    crowned(d)
    with pytest.raises(NoBattle):
        d.app.release_challenger(5, "x")


def test_a_battle_past_its_deadline_terminates_the_challenger() -> None:
    d = Driver()
    in_battle(d)
    assert d.tick(4 + 49) == []
    assert d.tick(4 + 50) == ["terminated"]
    assert d.reason("chal") == "deadline"


def test_the_pool_is_not_refreshed_during_a_battle() -> None:
    d = Driver()
    in_battle(d)
    pool = d.pool()
    d.tick(4 + 49 + 0)  # refresh is due at 102 but the deadline comes first here
    assert d.pool() == pool
    d2 = Driver(small_config(battle_deadline_blocks=1000))
    in_battle(d2)
    before = d2.pool()
    assert d2.tick(500) == []
    assert d2.pool() == before
    d2.app.release_challenger(501, "x")
    assert d2.tick(502) == ["pool_refreshed"]


def test_the_pool_refreshes_every_refresh_blocks_between_battles() -> None:
    d = Driver()
    crowned(d)
    first = d.pool()
    assert d.tick(101) == []
    assert d.tick(102) == ["pool_refreshed"]
    second = d.pool()
    assert second is not None and first is not None
    assert second["pool"] == first["pool"] + 1


def test_invalidating_the_challenger_mid_battle_terminates_it() -> None:
    d = Driver()
    in_battle(d)
    d.chain.commit("chal", commitment_text("chal", revision="r2"))
    d.sync()
    assert d.reason("chal") == "invalidated_mid_battle"
    assert d.challenger() is None


def test_a_terminated_hotkey_never_battles_again_whatever_it_commits() -> None:
    d = Driver()
    in_battle(d)
    d.score({"chal": fixed(0.5)})
    d.tick(5)
    assert d.status("chal") == "terminated"
    d.chain.commit("chal", commitment_text("chal", revision="new"))
    d.sync()
    d.score({"champ": fixed(0.5)})
    assert d.tick(6) == []
    assert d.status("chal") == "terminated"


def test_a_second_different_commitment_invalidates_the_hotkey() -> None:
    d = Driver()
    d.join("a")
    d.sync()
    d.chain.commit("a", commitment_text("a", revision="r2"))
    d.sync()
    assert d.miner("a")["invalid_reason"] == "multiple_commits"  # type: ignore[index]
    assert d.standings()["queue"] == []


def test_malformed_commitments_invalidate_without_raising() -> None:
    d = Driver()
    d.chain.register("bad")
    d.chain.commit("bad", "{not json")
    d.chain.register("wrongrepo")
    d.chain.commit("wrongrepo", commitment_text("wrongrepo", model="org/affine-someoneelse"))
    d.chain.register("nomarker")
    d.chain.commit("nomarker", commitment_text("nomarker", model="org/model-nomarker"))
    d.sync()
    assert d.miner("bad")["invalid_reason"] == "invalid_json"  # type: ignore[index]
    assert d.miner("wrongrepo")["invalid_reason"] == "repo_name_not_ending_with_hotkey"  # type: ignore[index]
    assert d.miner("nomarker")["invalid_reason"] == "model_name_missing_affine"  # type: ignore[index]
    assert d.sync() == 0  # seeing the same chain again records nothing


def test_a_model_hash_equal_to_an_earlier_committers_marks_the_later_a_copy() -> None:
    d = Driver()
    d.join("orig", block=3)
    d.join("copy", block=7)
    d.chain.hashes[("org/affine-orig", "r1")] = "h1"
    d.chain.hashes[("org/affine-copy", "r1")] = "h1"
    d.sync()
    assert d.miner("copy")["invalid_reason"] == "copy_of:orig"  # type: ignore[index]
    assert d.miner("orig")["invalid_reason"] is None  # type: ignore[index]


def test_a_model_the_hub_rules_out_invalidates_each_of_its_miners_once() -> None:
    d = Driver()
    d.join("a")
    d.join("b")
    d.sync()
    d.chain.invalid[("org/affine-a", "r1")] = "repo is gated"
    d.chain.invalid[("org/affine-nobody", "r1")] = "repo is disabled"
    assert d.sync() == 1
    assert d.miner("a")["invalid_reason"] == "hub:repo is gated"  # type: ignore[index]
    assert d.miner("b")["invalid_reason"] is None  # type: ignore[index]
    d.chain.invalid[("org/affine-a", "r1")] = "revision not found"
    assert d.sync() == 0  # the first broken rule is kept, and recorded once
    assert d.miner("a")["invalid_reason"] == "hub:repo is gated"  # type: ignore[index]
    assert [m["hotkey"] for m in d.standings()["queue"]] == ["b"]


def test_a_challenger_whose_model_the_hub_rules_out_mid_battle_is_terminated() -> None:
    d = Driver()
    in_battle(d)
    d.chain.invalid[("org/affine-chal", "r1")] = "repo not found or private"
    d.sync()
    assert d.reason("chal") == "invalidated_mid_battle"
    assert d.miner("chal")["invalid_reason"] == "hub:repo not found or private"  # type: ignore[index]


def test_uid_changes_follow_the_hotkey_not_the_uid() -> None:
    d = Driver()
    d.join("a", uid=3)
    d.sync()
    del d.chain.neurons["a"]
    d.sync()
    assert d.miner("a")["uid"] is None  # type: ignore[index]
    d.chain.register("a", 17)
    d.sync()
    assert d.miner("a")["uid"] == 17  # type: ignore[index]


def test_a_deregistered_champion_keeps_defending_and_its_weight_burns() -> None:
    d = Driver(small_config(burn=0.1))
    crowned(d)
    champ_uid = d.miner("champ")["uid"]  # type: ignore[index]
    assert d.app.weights()[1] == {champ_uid: 0.9, 0: 0.1}
    del d.chain.neurons["champ"]
    d.sync()
    assert d.champion() == "champ"
    assert d.app.weights()[1] == {0: 1.0}
    d.join("chal", block=9)
    d.sync()
    d.score({"champ": fixed(0.5)})
    assert d.tick(10) == ["battle_started"]


def test_an_unservable_champion_abdicates_after_missing_pools() -> None:
    d = Driver(small_config(max_champion_missed_pools=2))
    crowned(d)
    d.join("next", block=5)
    d.sync()
    assert d.tick(102) == ["pool_refreshed"]
    assert d.champion() == "champ"
    assert d.tick(202) == ["pool_refreshed"]
    assert d.reason("champ") == "unservable_champion"
    assert d.tick(203) == ["crowned"]
    assert d.champion() == "next"


class SaveHook(ThroneApplication):
    """The application, with a moment of our choosing between a command's load and its save:
    where a second writer gets in when two run at once."""

    before_next_save: Callable[[], object] | None = None

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        hook, self.before_next_save = self.before_next_save, None
        if hook is not None:
            hook()
        return super().save(*objs, **kwargs)


def dethroned(app: ThroneApplication) -> int:
    return len([e for e in app.events.get(app.contest_id) if isinstance(e, Contest.Dethroned)])


def test_two_writers_cannot_both_decide_a_battle() -> None:
    config = small_config()
    d = Driver(config, SaveHook(config))
    in_battle(d, champ_skill=0.2)
    d.score({"chal": fixed(0.9)})
    app = d.app
    assert isinstance(app, SaveHook)
    second: list[list[str]] = []
    # The first writer decides the battle; before it saves, a second one decides it too.
    app.before_next_save = lambda: second.append(d.tick(5))
    first = d.tick(5)
    assert second[0][0] == "dethroned"
    # The first writer's save was refused (the log moved on); on retry it found no battle.
    assert "dethroned" not in first
    assert dethroned(app) == 1
    assert d.champion() == "chal" and d.reason("champ") == "dethroned_by:chal"


def churn(d: Driver, syncs: int) -> None:
    """One Registered event per sync: a miner moving between two uids."""
    d.join("mover", block=99, uid=30)  # behind everyone in the queue
    for i in range(syncs):
        d.chain.neurons["mover"] = 30 + i % 2
        d.sync()


def test_reloading_from_the_log_gives_the_live_state() -> None:
    config = small_config()
    # With the aggregate cache and no fast-forward, commands run on the aggregates as earlier
    # commands left them in memory: the live state, never read back from the log.
    live_env = {"AGGREGATE_CACHE_MAXSIZE": "1000", "AGGREGATE_CACHE_FASTFORWARD": "n"}
    app = ThroneApplication(config, env=live_env)
    interval = app.snapshotting_intervals[Contest]
    d = Driver(config, app)
    churn(d, interval // 2)
    in_battle(d, champ_skill=0.3)
    churn(d, interval // 2)  # the first snapshot is taken mid-battle
    d.score({"chal": fraction(0.9)})
    assert d.tick(5)[0] == "dethroned"
    churn(d, 5)

    live: Contest = app.repository.get(app.contest_id)
    snapshot = next(iter(app.snapshots.get(app.contest_id, desc=True, limit=1)))  # type: ignore[union-attr]
    assert interval <= snapshot.originator_version < live.version
    # A load asked for a version skips the cache: the latest snapshot and the events after it.
    assert app.repository.get(app.contest_id, version=live.version) == live
    assert fold(app, app.contest_id) == live
    assert d.champion() == "chal"
    # The scorecards too.
    ids = {n.originator_id for n in app.recorder.select_notifications(start=1, limit=10**6)}
    assert len(ids) > 2
    for aggregate_id in ids:
        now = app.repository.get(aggregate_id)
        loaded = app.repository.get(aggregate_id, version=now.version)
        assert loaded == now == fold(app, aggregate_id)


def fold(app: ThroneApplication, aggregate_id: UUID) -> Any:
    """The aggregate from every stored event of its stream, no snapshot."""
    aggregate = None
    for e in app.events.get(aggregate_id):
        aggregate = e.mutate(aggregate)
    return aggregate
