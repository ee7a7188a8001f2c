"""Evidence fixed in advance: each pool's tasks in a seed-derived order, and battles compared on
the longest prefix of that order both sides scored."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.contest import small_config
from throne.domain.contest.battle import decide, paired_prefix
from throne.domain.contest.config import ContestConfig, EnvConfig
from throne.domain.contest.pool import derive_task_ids, pool_task_ids, task_order
from throne.domain.contest.rules import Verdict
from throne.domain.contest.samples import SideScores
from throne.domain.contest.state import Battle, Pool, Step
from throne.domain.contest.work import owed_work
from throne.domain.field_rules import OutOfRange

CONFIG = small_config(
    envs=(EnvConfig("SAT", 3, (0, 40)), EnvConfig("ABD", 2, (0, 40))), min_dominant_envs=1
)
# Stored in evaluation order, not ascending.
POOL = Pool(1, 10, "c0mm1t", {"SAT": [9, 2, 7, 4], "ABD": [5, 1, 3]})
BATTLE = Battle("chal", "r1", started=10, deadline=60, pool=1)


def side(hotkey: str, scores: dict[str, dict[int, float]]) -> SideScores:
    return SideScores(hotkey, "r1", 1, scores)


def test_the_order_is_the_documented_hash_order_of_the_pools_ids() -> None:
    seed = b"s" * 32
    ids = derive_task_ids(seed, "SAT", 20, (0, 1000), "random")

    def key(t: int) -> bytes:
        return hashlib.sha256(
            b"throne-order-v1\x00" + seed + b"\x00SAT\x00" + t.to_bytes(8, "big")
        ).digest()

    assert task_order(seed, "SAT", ids) == sorted(ids, key=key)
    assert task_order(seed, "SAT", ids) != sorted(ids)  # 20 ids ascending by chance: ~1/20!
    assert sorted(pool_task_ids(seed, "SAT", 20, (0, 1000), "random", ordered=True)) == ids
    assert pool_task_ids(seed, "SAT", 20, (0, 1000), "random", ordered=False) == ids
    assert task_order(b"t" * 32, "SAT", ids) != task_order(seed, "SAT", ids)


def test_the_prefix_follows_the_pools_order_and_stops_at_the_challengers_first_gap() -> None:
    champ = {"SAT": {9: 1.0, 2: 0.0, 7: 1.0, 4: 1.0}, "ABD": {5: 1.0, 3: 0.5}}
    chal = {"SAT": {9: 0.0, 2: 1.0, 4: 1.0}, "ABD": {5: 0.0, 3: 1.0, 1: 0.0}}
    pairs = paired_prefix(champ, chal, POOL, CONFIG)
    # SAT: 7 is still pending for the challenger, so its score on 4 waits behind it.
    assert pairs["SAT"] == [(9, 1.0, 0.0), (2, 0.0, 1.0)]
    # ABD: the champion never scored 1, so 1 is no evidence for either side.
    assert pairs["ABD"] == [(5, 1.0, 0.0), (3, 0.5, 1.0)]


def test_a_challenger_cannot_drop_a_task_it_did_badly_on() -> None:
    """Scoring only the easy tasks does not help: the battle waits for the one held back."""
    champ = side("champ", {"SAT": {9: 0.0, 2: 0.0, 7: 0.0, 4: 0.0}, "ABD": {5: 0.0, 1: 0.0}})
    skips_one = side("chal", {"SAT": {9: 1.0, 7: 1.0, 4: 1.0}, "ABD": {5: 1.0, 1: 1.0}})
    assert decide(BATTLE, 20, champ, skips_one, POOL, CONFIG) is None


def test_a_fixed_size_rule_compares_exactly_the_first_sampling_count_tasks() -> None:
    champ = side("champ", {"SAT": {9: 0.0, 2: 0.0, 7: 0.0, 4: 1.0}, "ABD": {5: 0.0, 1: 0.0}})
    # Better on the first three SAT tasks of the order, worse on the fourth: not compared.
    chal = side("chal", {"SAT": {9: 1.0, 2: 1.0, 7: 1.0, 4: 0.0}, "ABD": {5: 0.0, 1: 0.0}})
    d = decide(BATTLE, 20, champ, chal, POOL, CONFIG)
    assert d is not None and d.step is Step.DETHRONED and d.verdict is not None
    assert d.verdict.per_env["SAT"].n == 3 and d.verdict.per_env["SAT"].challenger_mean == 1.0


RULES = [
    {"min_dominant_envs": 1},
    {"min_dominant_envs": 0},
    {"rule": "pareto"},
    {"rule": "sequential", "sequential_looks": 3},
]
BIG = (EnvConfig("SAT", 12, (0, 100)), EnvConfig("ABD", 8, (0, 100)))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: str(r.get("rule", "partial")))
@given(data=st.data())
def test_the_decision_depends_on_the_scores_not_on_their_arrival(
    rule: dict[str, object], data: st.DataObject
) -> None:
    """Whatever order and batches the challenger's samples arrive in, the battle ends the
    same way; for the rules that stop only at fixed looks, with the same verdict."""
    cfg = small_config(envs=BIG, **rule)
    ids = {"SAT": list(range(14)), "ABD": list(range(50, 59))}
    pool = Pool(1, 10, "c", ids)
    scores = st.sampled_from([0.0, 1.0])
    champ = {env: {t: data.draw(scores) for t in ts} for env, ts in ids.items()}
    chal = {env: {t: data.draw(scores) for t in ts} for env, ts in ids.items()}
    tasks = [(env, t) for env, ts in ids.items() for t in ts]

    def play(order: list[tuple[str, int]], batch: int) -> object:
        seen: dict[str, dict[int, float]] = {}
        for i in range(0, len(order), batch):
            for env, t in order[i : i + batch]:
                seen.setdefault(env, {})[t] = chal[env][t]
            d = decide(BATTLE, 20, side("champ", champ), side("chal", seen), pool, cfg)
            if d is not None:
                exact = cfg.rule in ("sequential", "pareto")
                return (d.step, d.verdict if exact else None)
        return None

    in_order = play(tasks, 1)
    shuffled = data.draw(st.permutations(tasks))
    assert play(shuffled, data.draw(st.integers(1, 6))) == in_order


def test_the_challenger_is_owed_the_champions_scored_tasks_in_the_pools_order() -> None:
    champ = side("champ", {"SAT": {9: 1.0, 7: 1.0, 4: 1.0}, "ABD": {3: 1.0, 5: 1.0}})
    work = owed_work(POOL, CONFIG, champ, side("chal", {}))
    chal = [(w.env, w.task_id) for w in work if w.hotkey == "chal"]
    assert chal == [("SAT", 9), ("SAT", 7), ("SAT", 4), ("ABD", 5), ("ABD", 3)]


def test_a_log_written_before_rules_were_named_replays_by_its_old_rule() -> None:
    old = ContestConfig().to_dict()
    for key in ("rule", "evidence"):
        old.pop(key)
    assert (ContestConfig.from_dict(old).rule, ContestConfig.from_dict(old).evidence) == (
        "strict",
        "common",
    )
    partial = ContestConfig.from_dict(
        {**old, "envs": [e.to_dict() for e in CONFIG.envs], "min_dominant_envs": 1}
    )
    assert partial.rule == "partial"


def test_the_rule_and_its_parameters_are_recorded_in_the_configuration() -> None:
    cfg = ContestConfig(
        envs=CONFIG.envs, rule="sequential", sequential_alpha=0.02, pareto_z_win=0.0
    )
    recorded = cfg.to_dict()
    assert recorded["rule"] == "sequential" and recorded["evidence"] == "prefix"
    assert recorded["sequential_alpha"] == 0.02 and recorded["pareto_z_win"] == 0.0
    assert ContestConfig.from_dict(recorded) == cfg


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"rule": "strict", "min_dominant_envs": 1}, "rule strict needs min_dominant_envs = 0"),
        ({"rule": "partial"}, "rule partial needs min_dominant_envs >= 1"),
        ({"rule": "pareto", "evidence": "common"}, "evidence must be prefix"),
        ({"rule": "majority"}, "rule must be one of strict, partial, pareto, sequential"),
        ({"sequential_alpha": 0.0}, "sequential_alpha must be within (0, 0.5]"),
    ],
)
def test_a_rule_that_cannot_hold_is_refused_with_what_to_write(
    kwargs: dict[str, object], words: str
) -> None:
    with pytest.raises(OutOfRange, match=re.escape(words)):
        ContestConfig(envs=CONFIG.envs, **kwargs)  # type: ignore[arg-type]


def test_a_verdict_keeps_its_evidence_through_the_log_and_old_verdicts_have_none() -> None:
    v = Verdict("champion", "x", {}, {"method": "group_sequential_obf", "look": 3})
    assert Verdict.from_dict(v.to_dict()) == v
    assert "evidence" not in Verdict("champion", "x", {}).to_dict()
    assert Verdict.from_dict({"winner": "champion", "reason": "x", "per_env": {}}).evidence is None
