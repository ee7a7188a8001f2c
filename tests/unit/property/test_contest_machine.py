"""A stateful property test: random chains, samples, ticks and weight submissions against the
real application.

Invariants hold after every step; the log is re-read from scratch to check that every
recorded verdict is what `judge` gives on the recorded samples, and the read side is checked
against itself rebuilt from zero and against the audit's replay of the log.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.support.contest import Driver, commitment_text, small_config
from throne.application import ThroneApplication
from throne.audit.replay import ContestReplay, replay_mapper
from throne.audit.stored import exported, iter_notifications
from throne.domain.contest.battle import judge_battle
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.operator import Refused
from throne.domain.contest.rules import Verdict
from throne.domain.contest.samples import Sample
from throne.domain.contest.scorecard import Scorecard
from throne.domain.contest.state import DecisionInputs, Pool
from throne.domain.contest.weights import to_u16
from throne.projections.read_side import ReadSide

HOTKEYS = [f"hk{i}" for i in range(8)]
# Every verdict rule, with its aggregate (min_dominant_envs).
RULES = [("strict", 0), ("partial", 1), ("pareto", 0), ("sequential", 0), ("sequential", 1)]
MALFORMED = ["", "{", "[]", '{"model": 3, "revision": "r"}', '{"model": "x/y"}', "\x00\xff"]


class SnapshottingApp(ThroneApplication):
    # Tiny intervals so that loads go through snapshots too.
    snapshotting_intervals = {Contest: 7, Scorecard: 5}  # noqa: RUF012


class ContestMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.block = 1
        self.recorded: list[Sample] = []
        self.terminated: set[str] = set()
        self.config: ContestConfig = small_config()
        self.d = Driver(self.config)
        self.live = ReadSide(self.d.app, batch=1)
        self.replay = ContestReplay(replay_mapper())
        self.replayed = 0  # the last notification id the replay was fed

    @initialize(
        rule=st.sampled_from(RULES),
        deadline=st.integers(5, 60),
        refresh=st.integers(10, 80),
        releases=st.integers(0, 3),
    )
    def setup(self, rule: tuple[str, int], deadline: int, refresh: int, releases: int) -> None:
        event(f"rule {rule[0]}, {rule[1]} dominant envs")
        self.config = small_config(
            rule=rule[0],
            min_dominant_envs=rule[1],
            battle_deadline_blocks=deadline,
            refresh_blocks=refresh,
            max_releases=releases,
            burn=0.1,
        )
        self.d = Driver(self.config, SnapshottingApp(self.config))
        # Kept current event by event: each read applies what is new, one event a transaction.
        self.live = ReadSide(self.d.app, batch=1)
        for hk in HOTKEYS[:3]:
            self.d.chain.register(hk)
            self.d.chain.commit(hk, commitment_text(hk), block=0)
        self.d.sync()

    # ---- chain ----------------------------------------------------------------------------

    @rule(hk=st.sampled_from(HOTKEYS), back=st.integers(0, 5))
    def commit_valid(self, hk: str, back: int) -> None:
        if hk not in self.d.chain.neurons:
            self.d.chain.register(hk)
        self.d.chain.commit(hk, commitment_text(hk), block=max(0, self.block - back))
        self.d.chain.block = self.block
        self.d.sync()

    @rule(hk=st.sampled_from(HOTKEYS), text=st.sampled_from(MALFORMED))
    def commit_malformed(self, hk: str, text: str) -> None:
        if hk not in self.d.chain.neurons:
            self.d.chain.register(hk)
        self.d.chain.commit(hk, text, block=self.block)
        self.d.sync()

    @rule(hk=st.sampled_from(HOTKEYS), rev=st.sampled_from(["r2", "r3"]))
    def recommit(self, hk: str, rev: str) -> None:
        if hk in self.d.chain.commitments:
            self.d.chain.commit(hk, commitment_text(hk, revision=rev), block=self.block)
            self.d.sync()

    @rule(hk=st.sampled_from(HOTKEYS))
    def deregister(self, hk: str) -> None:
        self.d.chain.neurons.pop(hk, None)
        self.d.sync()

    @rule(hk=st.sampled_from(HOTKEYS))
    def reregister(self, hk: str) -> None:
        if hk not in self.d.chain.neurons:
            self.d.chain.register(hk)
            self.d.sync()

    # ---- samples --------------------------------------------------------------------------

    @rule(
        data=st.data(),
        n=st.integers(1, 12),
        outcome=st.sampled_from(["ok", "ok", "ok", "model_error", "infra_error"]),
    )
    def sample(self, data: st.DataObject, n: int, outcome: str) -> None:
        work = self.d.app.pending_work()
        if not work:
            return
        batch = []
        for _ in range(n):
            w = data.draw(st.sampled_from(work))
            score = data.draw(st.sampled_from([0.0, 1.0])) if outcome == "ok" else 0.0
            batch.append(
                Sample(
                    w.pool,
                    w.env,
                    w.task_id,
                    w.hotkey,
                    w.revision,
                    score,
                    outcome,
                    attempt=w.attempt,
                )  # type: ignore[arg-type]
            )
        report = self.d.app.record_samples(batch)
        rejected = {id(s) for s, _ in report.rejected}
        self.recorded += [s for s in batch if id(s) not in rejected]

    @precondition(lambda self: bool(self.recorded))
    @rule(data=st.data())
    def replay_sample(self, data: st.DataObject) -> None:
        s = data.draw(st.sampled_from(self.recorded))
        report = self.d.app.record_samples([s])
        assert report.accepted == 0

    @precondition(lambda self: bool(self.recorded))
    @rule(data=st.data())
    def conflicting_sample(self, data: st.DataObject) -> None:
        s = data.draw(st.sampled_from(self.recorded))
        if s.outcome == "infra_error":
            return
        flipped = Sample(s.pool, s.env, s.task_id, s.hotkey, s.revision, 1.0 - s.score, "ok")
        report = self.d.app.record_samples([flipped])
        assert report.accepted == 0

    @rule(data=st.data())
    def champion_aces_its_pool(self, data: st.DataObject) -> None:
        """Let battles start: the champion answers its whole pool."""
        std = self.d.standings()
        if std["champion"] is None:
            return
        hk = std["champion"]["hotkey"]
        p = data.draw(st.floats(0, 1))
        work = [w for w in self.d.app.pending_work() if w.hotkey == hk]
        batch = [
            Sample(
                w.pool,
                w.env,
                w.task_id,
                w.hotkey,
                w.revision,
                1.0 if (w.task_id % 10) / 10 < p else 0.0,
            )
            for w in work
        ]
        self.d.app.record_samples(batch)
        self.recorded += batch

    @rule(skill=st.floats(0, 1))
    def challenger_answers(self, skill: float) -> None:
        b = self.d.standings()["battle"]
        if b is None:
            return
        work = [w for w in self.d.app.pending_work() if w.hotkey == b["hotkey"]]
        batch = [
            Sample(
                w.pool,
                w.env,
                w.task_id,
                w.hotkey,
                w.revision,
                1.0 if ((w.task_id * 31) % 10) / 10 < skill else 0.0,
            )
            for w in work
        ]
        self.d.app.record_samples(batch)
        self.recorded += batch

    @rule(champ=st.floats(0, 1), chal=st.floats(0, 1), step=st.integers(1, 3))
    def play_round(self, champ: float, chal: float, step: int) -> None:
        """Both sides answer what is pending, then time passes: battles get decided."""
        for _ in range(2):
            std = self.d.standings()
            skills = {}
            if std["champion"]:
                skills[std["champion"]["hotkey"]] = champ
            if std["battle"]:
                skills[std["battle"]["hotkey"]] = chal
            batch = [
                Sample(
                    w.pool,
                    w.env,
                    w.task_id,
                    w.hotkey,
                    w.revision,
                    1.0 if ((w.task_id * 37) % 10) / 10 < skills[w.hotkey] else 0.0,
                )
                for w in self.d.app.pending_work()
                if w.hotkey in skills
            ]
            self.d.app.record_samples(batch)
            self.recorded += batch
            self.tick(step)

    # ---- time and infrastructure ----------------------------------------------------------

    @rule(step=st.integers(1, 40))
    def tick(self, step: int) -> None:
        self.block += step
        self.d.chain.block = self.block
        self.d.app.tick(self.block, b"seed-%d" % self.block)
        std = self.d.standings()
        battle = std["battle"]
        if battle is not None and std["operations"]["paused_since_block"] is None:
            assert self.block < battle["deadline_block"], "a battle outlived its deadline"

    # ---- the operator ---------------------------------------------------------------------

    @rule(hk=st.sampled_from(HOTKEYS), undo=st.booleans())
    def blacklist(self, hk: str, undo: bool) -> None:
        action = "unblacklist" if undo else "blacklist"
        self._operate(action, hotkey=hk)
        m = self.d.miner(hk)
        if m is not None and not undo:
            assert m["blacklisted"] is not None
            assert self.d.challenger() != hk
            assert hk not in {q["hotkey"] for q in self.d.standings()["queue"]}

    @rule(burn=st.one_of(st.floats(0, 1), st.sampled_from([-0.5, 1.5, float("nan")])))
    def set_burn(self, burn: float) -> None:
        self._operate("set_burn", burn=burn)

    @rule()
    def rotate_pool(self) -> None:
        before = self.d.pool()
        rotated = self._operate("order_pool_rotation")
        if rotated:
            self.tick(1)
            after = self.d.pool()
            paused = self.d.standings()["operations"]["paused_since_block"] is not None
            if before is not None and not paused:
                assert after is not None and after["pool"] == before["pool"] + 1

    @rule(resume=st.booleans())
    def pause(self, resume: bool) -> None:
        self._operate("resume" if resume else "pause")
        if not resume and self.d.standings()["operations"]["paused_since_block"] is not None:
            assert self.d.app.pending_work() == []

    def _operate(self, action: str, **args: object) -> bool:
        """The action, or its refusal by name (then the log holds nothing new)."""
        version = self.d.app.contest_version()
        try:
            self.d.app.operate(action, "the operator's reason", self.block, **args)
        except Refused as exc:
            event(f"refused {exc.rule}")
            assert self.d.app.contest_version() == version
            return False
        return True

    @rule(reason=st.sampled_from(["deploy_failed", "unhealthy"]))
    def infra_failure(self, reason: str) -> None:
        if self.d.standings()["battle"] is not None:
            self.d.app.release_challenger(self.block, reason)

    @rule(hk=st.sampled_from(HOTKEYS))
    def outside_invalidation(self, hk: str) -> None:
        if self.d.miner(hk) is not None:
            self.d.app.invalidate(hk, "hf_revision_not_found", self.block)

    @rule(landed=st.booleans())
    def set_weights(self, landed: bool) -> None:
        """The daemon's weight setter: the vector of the contest now, landed on chain or not."""
        version, weights = self.d.app.weights()
        self.d.app.record_weights(
            block=self.block,
            weights=weights,
            u16=list(to_u16(weights)) if landed else [],
            ok=landed,
            extrinsic=f"0x{self.block:04x}" if landed else None,
            error=None if landed else "rate_limited",
            contest_version=version,
        )

    @rule()
    def a_read_side_rebuilt_from_zero_holds_what_the_live_one_holds(self) -> None:
        """At any point of the contest: the same rows, and the same positions."""
        afresh = ReadSide(self.d.app)
        try:
            with self.live.read() as live, afresh.read() as rebuilt:
                assert live.rows() == rebuilt.rows()
        finally:
            afresh.close()

    def teardown(self) -> None:
        # Shown by --hypothesis-show-statistics: how often each transition was reached.
        kinds = {type(e).__name__ for e in self.d.app.events.get(self.d.app.contest_id)}
        for kind in sorted(kinds):
            event(f"reached {kind}")

    # ---- invariants -----------------------------------------------------------------------

    @invariant()
    def at_most_one_champion(self) -> None:
        champs = [m for m in self.d.miners() if m["status"] == "champion"]
        std = self.d.standings()
        assert len(champs) <= 1
        assert (std["champion"] is None) == (not champs)

    @invariant()
    def terminated_hotkeys_never_battle_again(self) -> None:
        statuses = {m["hotkey"]: m["status"] for m in self.d.miners()}
        for hk in self.terminated:
            assert statuses[hk] == "terminated"
        self.terminated |= {hk for hk, s in statuses.items() if s == "terminated"}

    @invariant()
    def weights_sum_to_one_on_the_champion_and_uid_zero(self) -> None:
        _, weights = self.d.app.weights()
        assert abs(sum(weights.values()) - 1.0) < 1e-12
        champ = self.d.standings()["champion"]
        allowed = {0} | ({champ["uid"]} if champ and champ["uid"] is not None else set())
        assert set(weights) <= allowed
        if champ is None or champ["uid"] is None or champ["invalid_reason"] or champ["blacklisted"]:
            assert weights == {0: 1.0}

    @invariant()
    def the_log_explains_every_verdict_and_every_crown(self) -> None:
        check_log(self.d.app, self.d.reads)

    @invariant()
    def the_live_read_side_says_what_the_audit_replays(self) -> None:
        """Every miner's record and status, and every weight vector: the current one and each
        submission's, as the audit's replay of the log has them (the replay itself rechecks
        every verdict and every submission against the contest it rebuilt)."""
        app = self.d.app
        for n in iter_notifications(app.recorder, after=self.replayed):  # what is new
            self.replay(exported(n))
            self.replayed = n.id
        contest = self.replay.contest(self.config.netuid)
        assert contest is not None
        with self.live.read() as live:
            standings, submissions = live.standings(), live.submissions()
        replayed = {m.hotkey: m.status for m in contest.all_miners()}
        assert {m.hotkey: m.status for m in standings.miners} == replayed
        assert [m.to_dict() for m in standings.miners] == [
            m.to_dict() for m in contest.all_miners()
        ]
        assert standings.version == contest.version
        assert standings.operations == contest.operations
        assert standings.weights() == contest.weights()
        for s in submissions:
            assert s["weights"] == self.replay.weights_at(self.config.netuid, s["contest_version"])

    @invariant()
    def reloading_every_aggregate_from_the_log_equals_the_live_state(self) -> None:
        app = self.d.app
        ids = {n.originator_id for n in app.recorder.select_notifications(start=1, limit=10**6)}
        for aggregate_id in ids:
            folded = None
            for e in app.events.get(aggregate_id):
                folded = e.mutate(folded)
            assert app.repository.get(aggregate_id) == folded


def check_log(app: ThroneApplication, reads: ReadSide) -> None:
    """Walk the contest's events from the start and recheck every decision."""
    champion: str | None = None
    battle: dict[str, Any] | None = None
    pool: Pool | None = None
    config = None
    # While the operator pauses the contest its battles may outlive their deadline: the events
    # the chain brings (an invalidation) still end them; resuming gives the blocks back.
    paused = False
    for e in app.events.get(app.contest_id):
        kind = type(e).__name__
        if kind == "Paused":
            paused = True
        elif kind == "Resumed":
            paused = False
            if battle is not None:
                battle["deadline"] += e.paused_blocks
        elif kind == "Blacklisted" and battle is not None and e.hotkey == battle["hotkey"]:
            battle = None  # abandoned
        elif kind == "Created" or kind == "Reconfigured":
            config = e.config
        elif kind == "PoolRefreshed":
            assert battle is None, "pool refreshed during a battle"
            pool = Pool(e.pool, e.block, e.seed_commitment, e.task_ids)
        elif kind == "ChampionCrowned":
            assert champion is None, "cold start with a champion on the throne"
            champion = e.hotkey
        elif kind == "BattleStarted":
            assert battle is None and champion is not None
            battle = {"hotkey": e.hotkey, "revision": e.revision, "deadline": e.deadline_block}
        elif kind == "ChallengerReleased":
            assert battle is not None and (paused or e.block < battle["deadline"])
            battle = None
        elif kind == "Dethroned":
            assert battle is not None and e.new_champion.hotkey == battle["hotkey"]
            assert e.old_champion.hotkey == champion
            assert config is not None and pool is not None
            old = (e.old_champion.hotkey, e.old_champion.revision)
            new = (e.new_champion.hotkey, e.new_champion.revision)
            recheck(app, config, pool, old, new, e.verdict, e.inputs)
            assert e.verdict.winner == "challenger"
            champion, battle = e.new_champion.hotkey, None
        elif kind == "Terminated":
            if battle is not None and e.hotkey == battle["hotkey"]:
                assert paused or e.block < battle["deadline"] or e.reason == "deadline"
                if e.verdict is not None:
                    assert config is not None and pool is not None and champion is not None
                    assert e.inputs is not None
                    old = (champion, _revision(reads, champion))
                    recheck(app, config, pool, old, (e.hotkey, e.revision), e.verdict, e.inputs)
                    assert e.verdict.winner == "champion" or e.inputs.rule == "early_regression"
                battle = None
            elif e.hotkey == champion:
                champion = None  # dethroned (already moved on) or abdicated
    with reads.read() as r:
        live = r.standings().champion
    assert (None if live is None else live.hotkey) == champion


def _revision(reads: ReadSide, hotkey: str) -> str:
    with reads.read() as r:
        m = r.standings().miner(hotkey)
    assert m is not None
    return str(m.revision)


def recheck(
    app: ThroneApplication,
    config: ContestConfig,
    pool: Pool,
    champion: tuple[str, str | None],
    challenger: tuple[str, str | None],
    recorded: Verdict,
    inputs: DecisionInputs,
) -> None:
    """The rule on the samples each side's scorecard held at the versions the decision read."""
    sides = []
    versions = (inputs.champion_scorecard_version, inputs.challenger_scorecard_version)
    for (hotkey, revision), version in zip((champion, challenger), versions, strict=True):
        assert revision is not None
        sid = Scorecard.create_id(
            netuid=config.netuid, pool=pool.pool, hotkey=hotkey, revision=revision
        )
        scores: dict[str, dict[int, float]] = {}
        if version:
            for ev in app.events.get(sid, lte=version):
                if isinstance(ev, Scorecard.SampleScored) and ev.outcome != "infra_error":
                    scores.setdefault(ev.env, {})[ev.task_id] = ev.score
        sides.append(scores)
    judged = judge_battle(sides[0], sides[1], pool, config)
    assert judged.final and judged.verdict == recorded


ContestMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("THRONE_MACHINE_EXAMPLES", "150")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestContestMachine = ContestMachine.TestCase
# 150 runs of 40 steps take about two minutes of CPU: on a machine shared with other work that
# is more than the suite's 300 s per test, and a test cut short by the clock is no verdict.
pytestmark = pytest.mark.timeout(900)
