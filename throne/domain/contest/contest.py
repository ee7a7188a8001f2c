"""The throne: champion, current battle, task pool and the miners' lifecycle, as one aggregate.

Every decision (crown, start, dethrone, terminate, release) touches only this aggregate, so it
is one atomic save, and two writers racing on one log cannot both decide: optimistic
concurrency rejects the second. Samples live in per-(pool, miner) `Scorecard` streams; a
decision receives them as `SideScores` and records their versions.

Commands check a rule (the rules are pure functions: `throne.domain.contest.battle`,
`throne.domain.queue`; the chain's commands are in `throne.domain.contest.roster`) and then
trigger events; ``apply`` methods never fail and do no I/O.
State is frozen records, replaced with ``attrs.evolve``.

Events and snapshots written before the records existed hold plain dicts; ``class_version``
2 and the ``upcast_v1_v2`` methods turn them into records as they load.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID, uuid5

from attrs import evolve
from eventsourcing.domain import Aggregate

from throne.domain.contest import roster
from throne.domain.contest.battle import champion_complete, decide
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.operator import Operations, Refused, check_burn, check_reason
from throne.domain.contest.pool import pool_task_ids, seed_commitment
from throne.domain.contest.rules import Verdict
from throne.domain.contest.samples import SideScores
from throne.domain.contest.state import Battle, Champion, DecisionInputs, MinerRef, Pool, Step
from throne.domain.contest.weights import contest_weights
from throne.domain.ids import NAMESPACE
from throne.domain.queue.miners import MinerRecord, Status, queue_order
from throne.domain.queue.snapshot import ChainSnapshot

T = TypeVar("T")


class WrongScores(ValueError):
    """Scores handed to a decision that belong to another miner or pool."""


class BattleInProgress(ValueError):
    """The command needs the contest to be between battles."""


class NoBattle(ValueError):
    """The command needs a battle in progress."""


def _config(state: dict[str, Any]) -> None:
    state["config"] = ContestConfig.from_dict(state["config"])


def _optional(value: Mapping[str, Any] | None, parse: Callable[[Mapping[str, Any]], T]) -> T | None:
    return None if value is None else parse(value)


class Contest(Aggregate):
    TOPIC = "throne:Contest"
    class_version = 3

    # ---- events -------------------------------------------------------------------------

    class Created(Aggregate.Created):
        TOPIC = "throne:Contest.Created"
        class_version = 2
        netuid: int
        config: ContestConfig

        upcast_v1_v2 = staticmethod(_config)

    class Reconfigured(Aggregate.Event):
        TOPIC = "throne:Contest.Reconfigured"
        class_version = 2
        config: ContestConfig
        block: int

        upcast_v1_v2 = staticmethod(_config)

        def apply(self, c: Contest) -> None:
            c.config = self.config

    class Committed(Aggregate.Event):
        """A hotkey's commitment, first seen on chain."""

        TOPIC = "throne:Contest.Committed"
        hotkey: str
        uid: int
        model: str
        revision: str
        first_block: int
        extra: dict[str, object]
        text_digest: str

        def apply(self, c: Contest) -> None:
            before = c.miners.get(self.hotkey)
            c.miners[self.hotkey] = MinerRecord(
                self.hotkey,
                self.uid,
                self.model,
                self.revision,
                self.first_block,
                text_digest=self.text_digest,
                # An operator's blacklist is of the hotkey: a new commitment keeps it.
                blacklisted=None if before is None else before.blacklisted,
            )

    class Invalidated(Aggregate.Event):
        """A hotkey broke a validity rule (for good): it never battles, and a champion burns."""

        TOPIC = "throne:Contest.Invalidated"
        hotkey: str
        uid: int | None
        reason: str
        block: int
        text_digest: str | None

        def apply(self, c: Contest) -> None:
            rec = c.miners.get(self.hotkey)
            if rec is None:
                rec = MinerRecord(
                    self.hotkey, self.uid, None, None, self.block, text_digest=self.text_digest
                )
            if rec.invalid_reason is None:
                rec = evolve(rec, invalid_reason=self.reason)
            c.miners[self.hotkey] = rec

    class Registered(Aggregate.Event):
        """A known hotkey now sits at ``uid`` (re-registered or moved)."""

        TOPIC = "throne:Contest.Registered"
        hotkey: str
        uid: int
        block: int

        def apply(self, c: Contest) -> None:
            c.miners[self.hotkey] = evolve(c.miners[self.hotkey], uid=self.uid)

    class Deregistered(Aggregate.Event):
        TOPIC = "throne:Contest.Deregistered"
        hotkey: str
        block: int

        def apply(self, c: Contest) -> None:
            c.miners[self.hotkey] = evolve(c.miners[self.hotkey], uid=None)

    class ModelHashRecorded(Aggregate.Event):
        TOPIC = "throne:Contest.ModelHashRecorded"
        hotkey: str
        model_hash: str

        def apply(self, c: Contest) -> None:
            c.miners[self.hotkey] = evolve(c.miners[self.hotkey], model_hash=self.model_hash)

    class PoolRefreshed(Aggregate.Event):
        """A new task pool. ``seed`` is secret until this pool is retired (export redacts it)."""

        TOPIC = "throne:Contest.PoolRefreshed"
        pool: int
        block: int
        seed: str
        seed_commitment: str
        task_ids: dict[str, list[int]]
        champion_missed_pools: int

        def apply(self, c: Contest) -> None:
            c.pool = Pool(self.pool, self.block, self.seed_commitment, self.task_ids)
            c.champion_missed_pools = self.champion_missed_pools
            c.operations = evolve(c.operations, rotation_ordered=False)

    class ChampionCrowned(Aggregate.Event):
        """The queue head takes an empty throne without a contest (cold start)."""

        TOPIC = "throne:Contest.ChampionCrowned"
        hotkey: str
        revision: str
        uid: int
        block: int
        reason: str

        def apply(self, c: Contest) -> None:
            c.crown(self.hotkey, self.revision, self.block)

    class BattleStarted(Aggregate.Event):
        TOPIC = "throne:Contest.BattleStarted"
        hotkey: str
        revision: str
        uid: int
        block: int
        deadline_block: int
        pool: int
        infra_baseline: int

        def apply(self, c: Contest) -> None:
            c.set_status(self.hotkey, Status.BATTLING)
            c.battle = Battle(
                self.hotkey,
                self.revision,
                self.block,
                self.deadline_block,
                self.pool,
                self.infra_baseline,
            )

    class ChallengerReleased(Aggregate.Event):
        """We could not serve a miner: the battle's challenger goes back to its place in the
        queue; a queued miner (its deploy failed before its battle) keeps its place. Logs
        written before queued miners were released hold only the first kind."""

        TOPIC = "throne:Contest.ChallengerReleased"
        hotkey: str
        revision: str
        reason: str
        releases: int
        block: int

        def apply(self, c: Contest) -> None:
            rec = c.miners[self.hotkey]
            c.miners[self.hotkey] = evolve(rec, status=Status.QUEUED, releases=self.releases)
            if c.battle is not None and c.battle.hotkey == self.hotkey:
                c.battle = None

    class Dethroned(Aggregate.Event):
        """The challenger beat the champion; ``verdict`` holds every number used."""

        TOPIC = "throne:Contest.Dethroned"
        class_version = 2
        old_champion: MinerRef
        new_champion: MinerRef
        verdict: Verdict
        block: int
        pool: int
        inputs: DecisionInputs

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["old_champion"] = MinerRef.from_dict(state["old_champion"])
            state["new_champion"] = MinerRef.from_dict(state["new_champion"])
            state["verdict"] = Verdict.from_dict(state["verdict"])
            state["inputs"] = DecisionInputs.from_dict(state["inputs"])

        def apply(self, c: Contest) -> None:
            new = self.new_champion
            assert new.revision is not None
            c.crown(new.hotkey, new.revision, self.block)
            c.battle = None

    class Terminated(Aggregate.Event):
        """A miner's one shot is over: lost, dethroned, invalidated mid-battle, timed out..."""

        TOPIC = "throne:Contest.Terminated"
        class_version = 2
        hotkey: str
        revision: str | None
        uid: int | None
        reason: str
        verdict: Verdict | None
        block: int
        inputs: DecisionInputs | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["verdict"] = _optional(state["verdict"], Verdict.from_dict)
            state["inputs"] = _optional(state["inputs"], DecisionInputs.from_dict)

        def apply(self, c: Contest) -> None:
            rec = c.miners[self.hotkey]
            c.miners[self.hotkey] = evolve(
                rec, status=Status.TERMINATED, terminated_reason=self.reason
            )
            if c.battle is not None and c.battle.hotkey == self.hotkey:
                c.battle = None
            if c.champion is not None and c.champion.hotkey == self.hotkey:
                c.champion = None

    # ---- events: operator actions (throne.domain.contest.operator) -------------------------

    class Blacklisted(Aggregate.Event):
        """An operator took ``hotkey`` out of the contest, for ``reason``."""

        TOPIC = "throne:Contest.Blacklisted"
        hotkey: str
        reason: str
        block: int

        def apply(self, c: Contest) -> None:
            rec = c.miners[self.hotkey]
            if c.battle is not None and c.battle.hotkey == self.hotkey:
                # The battle is abandoned: the challenger waits again, no release counted.
                rec = evolve(rec, status=Status.QUEUED)
                c.battle = None
            c.miners[self.hotkey] = evolve(rec, blacklisted=self.reason)

    class Unblacklisted(Aggregate.Event):
        TOPIC = "throne:Contest.Unblacklisted"
        hotkey: str
        reason: str
        block: int

        def apply(self, c: Contest) -> None:
            c.miners[self.hotkey] = evolve(c.miners[self.hotkey], blacklisted=None)

    class BurnSet(Aggregate.Event):
        """An operator set the burn, in force over the configuration's."""

        TOPIC = "throne:Contest.BurnSet"
        burn: float
        reason: str
        block: int

        def apply(self, c: Contest) -> None:
            c.operations = evolve(c.operations, burn=self.burn)

    class PoolRotationOrdered(Aggregate.Event):
        """An operator ordered a new pool: the next step draws it."""

        TOPIC = "throne:Contest.PoolRotationOrdered"
        reason: str
        block: int

        def apply(self, c: Contest) -> None:
            c.operations = evolve(c.operations, rotation_ordered=True)

    class Paused(Aggregate.Event):
        TOPIC = "throne:Contest.Paused"
        reason: str
        block: int

        def apply(self, c: Contest) -> None:
            c.operations = evolve(c.operations, paused_at=self.block)

    class Resumed(Aggregate.Event):
        """The contest runs again; a battle paused for ``paused_blocks`` gets them back."""

        TOPIC = "throne:Contest.Resumed"
        reason: str
        block: int
        paused_blocks: int

        def apply(self, c: Contest) -> None:
            c.operations = evolve(c.operations, paused_at=None)
            if c.battle is not None:
                c.battle = evolve(c.battle, deadline=c.battle.deadline + self.paused_blocks)

    # ---- construction ---------------------------------------------------------------------

    @staticmethod
    def create_id(netuid: int) -> UUID:
        return uuid5(NAMESPACE, f"contest:{netuid}")

    def __init__(self, netuid: int, config: ContestConfig) -> None:
        self.netuid = netuid
        self.config = config
        self.miners: dict[str, MinerRecord] = {}
        self.champion: Champion | None = None
        self.battle: Battle | None = None
        self.pool: Pool | None = None
        self.champion_missed_pools = 0
        self.operations = Operations()

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A snapshot taken before operator actions existed."""
        state["operations"] = Operations()

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken when the state was plain dicts."""
        _config(state)
        state["miners"] = {hk: MinerRecord.from_state(hk, d) for hk, d in state["miners"].items()}
        state["champion"] = _optional(state["champion"], Champion.from_dict)
        state["battle"] = _optional(state["battle"], Battle.from_dict)
        state["pool"] = _optional(state["pool"], Pool.from_dict)

    # ---- state changes the handlers share -------------------------------------------------

    def set_status(self, hotkey: str, status: Status) -> None:
        self.miners[hotkey] = evolve(self.miners[hotkey], status=status)

    def crown(self, hotkey: str, revision: str, block: int) -> None:
        self.set_status(hotkey, Status.CHAMPION)
        self.champion = Champion(hotkey, revision, block)
        self.champion_missed_pools = 0

    # ---- reads ----------------------------------------------------------------------------

    def miner(self, hotkey: str) -> MinerRecord | None:
        return self.miners.get(hotkey)

    def all_miners(self) -> list[MinerRecord]:
        return list(self.miners.values())

    def queue(self) -> list[MinerRecord]:
        return queue_order(self.miners.values())

    def queue_head(self) -> MinerRecord | None:
        q = self.queue()
        return q[0] if q else None

    def champion_record(self) -> MinerRecord | None:
        return None if self.champion is None else self.miners[self.champion.hotkey]

    def challenger_record(self) -> MinerRecord | None:
        return None if self.battle is None else self.miners[self.battle.hotkey]

    def pool_index(self) -> int | None:
        return None if self.pool is None else self.pool.pool

    def sampling(self) -> list[tuple[str, str]]:
        """The (hotkey, revision) pairs whose samples the contest takes now."""
        out = []
        if self.champion is not None:
            out.append((self.champion.hotkey, self.champion.revision))
        if self.battle is not None:
            out.append((self.battle.hotkey, self.battle.revision))
        return out

    def contender(self) -> tuple[str, str] | None:
        """Who the champion's scores are compared with: the challenger, or the queue head."""
        if self.battle is not None:
            return self.battle.hotkey, self.battle.revision
        head = self.queue_head()
        if head is None or head.revision is None:
            return None
        return head.hotkey, head.revision

    def weights(self) -> dict[int, float]:
        burn = self.operations.burn_in_force(self.config.burn)
        champ = self.champion_record()
        if champ is None:
            return contest_weights(None, False, burn)
        return contest_weights(champ.uid, champ.paid, burn)

    # ---- commands: the contest ------------------------------------------------------------

    def reconfigure(self, config: ContestConfig, block: int) -> None:
        if self.battle is not None:
            raise BattleInProgress("the configuration changes only between battles")
        if config.netuid != self.netuid:
            raise ValueError(f"netuid {config.netuid} != {self.netuid}")
        if config != self.config:
            self.trigger_event(self.Reconfigured, config=config, block=block)

    def tick(
        self,
        block: int,
        seed: bytes,
        champion: SideScores | None = None,
        challenger: SideScores | None = None,
        *,
        sides_ready: bool = True,
    ) -> Step | None:
        """Take at most one step of the contest at ``block``; returns what happened.

        ``champion`` are the champion's scores in the current pool; ``challenger`` those of the
        battle's challenger, or of the queue head between battles. ``sides_ready`` says
        whether the champion and the queue head are both served now: a battle starts only
        when both sides answer (a battle that waits for a model to load would spend its
        deadline on it). Crowning an empty throne needs no answer. Call again until it returns
        None to take every step due at this block.
        """
        self._check_sides(champion, challenger)
        if self.operations.paused:
            return None
        cfg = self.config
        if self.pool is None or (
            self.battle is None
            and (block - self.pool.block >= cfg.refresh_blocks or self.operations.rotation_ordered)
        ):
            self._refresh_pool(block, seed, champion)
            return Step.POOL_REFRESHED
        if self.battle is not None:
            return self._advance_battle(block, champion, challenger)
        head = self.queue_head()
        if head is None:
            return None
        assert head.revision is not None and head.uid is not None
        if self.champion is None:
            self.trigger_event(
                self.ChampionCrowned,
                hotkey=head.hotkey,
                revision=head.revision,
                uid=head.uid,
                block=block,
                reason="cold_start",
            )
            return Step.CROWNED
        if not champion_complete(None if champion is None else champion.scores, self.pool, cfg):
            return None
        if not sides_ready:
            return None
        self.trigger_event(
            self.BattleStarted,
            hotkey=head.hotkey,
            revision=head.revision,
            uid=head.uid,
            block=block,
            deadline_block=block + cfg.battle_deadline_blocks,
            pool=self.pool.pool,
            infra_baseline=challenger.infra_errors if challenger is not None else 0,
        )
        return Step.BATTLE_STARTED

    def release_challenger(self, block: int, reason: str) -> None:
        """Infrastructure failure: the challenger goes back to its place, a bounded number
        of times (``max_releases``); the failure after that terminates it as ``unservable``."""
        if self.battle is None:
            raise NoBattle("no battle to release")
        if self.battle.past_deadline(block):
            self.terminate(self.battle.hotkey, "deadline", block)
            return
        self._release(self.battle.hotkey, block, reason)

    def release(self, hotkey: str, reason: str, block: int) -> None:
        """We could not serve ``hotkey``: the battle's challenger (as `release_challenger`)
        or a queued miner whose deploy failed before its battle. Either counts toward the same
        bound (``max_releases``); the release after it terminates the miner as
        ``unservable``, so a model nobody can serve does not hold the queue's head forever."""
        if self.battle is not None and self.battle.hotkey == hotkey:
            self.release_challenger(block, reason)
            return
        rec = self.miners.get(hotkey)
        if rec is None:
            raise KeyError(f"unknown hotkey {hotkey}")
        if rec.status is not Status.QUEUED:
            raise NoBattle(f"{hotkey} is neither battling nor queued ({rec.status.value})")
        self._release(hotkey, block, reason)

    def _check_sides(self, champion: SideScores | None, challenger: SideScores | None) -> None:
        own = None if self.champion is None else (self.champion.hotkey, self.champion.revision)
        for side, who in ((champion, own), (challenger, self.contender())):
            if side is None or who is None:
                continue
            if (side.hotkey, side.revision) != who:
                raise WrongScores(f"scores of {side.hotkey} handed for {who[0]}")
            if side.pool != self.pool_index():
                raise WrongScores(f"scores of pool {side.pool}, current {self.pool_index()}")

    def _refresh_pool(self, block: int, seed: bytes, champion: SideScores | None) -> None:
        cfg = self.config
        missed = self.champion_missed_pools
        if self.champion is not None and self.pool is not None:
            complete = champion_complete(
                None if champion is None else champion.scores, self.pool, cfg
            )
            missed = 0 if complete else missed + 1
        ordered = cfg.evidence == "prefix"
        task_ids = {
            e.name: pool_task_ids(seed, e.name, e.pool_size, e.id_range, e.mode, ordered=ordered)
            for e in cfg.envs
        }
        self.trigger_event(
            self.PoolRefreshed,
            pool=(self.pool_index() or 0) + 1,
            block=block,
            seed=seed.hex(),
            seed_commitment=seed_commitment(seed),
            task_ids=task_ids,
            champion_missed_pools=missed,
        )
        if self.champion is not None and missed >= cfg.max_champion_missed_pools:
            self.terminate(self.champion.hotkey, "unservable_champion", block)

    def _advance_battle(
        self, block: int, champion: SideScores | None, challenger: SideScores | None
    ) -> Step | None:
        assert self.battle is not None and self.pool is not None
        decision = decide(self.battle, block, champion, challenger, self.pool, self.config)
        if decision is None:
            return None
        if decision.step is Step.RELEASED:
            self._release(self.battle.hotkey, block, decision.reason)
        elif decision.step is Step.DETHRONED:
            assert decision.verdict is not None and decision.inputs is not None
            self._dethrone(block, decision.verdict, decision.inputs)
        else:
            self.terminate(
                self.battle.hotkey, decision.reason, block, decision.verdict, decision.inputs
            )
        return decision.step

    def _dethrone(self, block: int, verdict: Verdict, inputs: DecisionInputs) -> None:
        assert self.champion is not None and self.battle is not None and self.pool is not None
        old, new = self.miners[self.champion.hotkey], self.miners[self.battle.hotkey]
        self.trigger_event(
            self.Dethroned,
            old_champion=MinerRef(old.hotkey, old.revision, old.uid),
            new_champion=MinerRef(new.hotkey, new.revision, new.uid),
            verdict=verdict,
            block=block,
            pool=self.pool.pool,
            inputs=inputs,
        )
        self.terminate(old.hotkey, f"dethroned_by:{new.hotkey}", block)

    def terminate(
        self,
        hotkey: str,
        reason: str,
        block: int,
        verdict: Verdict | None = None,
        inputs: DecisionInputs | None = None,
    ) -> None:
        """The miner's one shot is over, for ``reason``."""
        rec = self.miners[hotkey]
        self.trigger_event(
            self.Terminated,
            hotkey=hotkey,
            revision=rec.revision,
            uid=rec.uid,
            reason=reason,
            verdict=verdict,
            block=block,
            inputs=inputs,
        )

    def _release(self, hotkey: str, block: int, reason: str) -> None:
        rec = self.miners[hotkey]
        releases = rec.releases + 1
        if releases > self.config.max_releases:
            self.terminate(hotkey, "unservable", block)
            return
        battling = self.battle is not None and self.battle.hotkey == hotkey
        revision = self.battle.revision if self.battle is not None and battling else rec.revision
        assert revision is not None  # a battling or queued miner has committed
        self.trigger_event(
            self.ChallengerReleased,
            hotkey=hotkey,
            revision=revision,
            reason=reason,
            releases=releases,
            block=block,
        )

    # ---- commands: operator actions (throne.domain.contest.operator) -----------------------

    def blacklist(self, hotkey: str, reason: str, block: int) -> None:
        rec = self._operated_miner(hotkey)
        if rec.blacklisted is not None:
            raise Refused("already_blacklisted", f"{hotkey} is blacklisted: {rec.blacklisted}")
        self.trigger_event(
            self.Blacklisted, hotkey=hotkey, reason=check_reason(reason), block=block
        )

    def unblacklist(self, hotkey: str, reason: str, block: int) -> None:
        rec = self._operated_miner(hotkey)
        if rec.blacklisted is None:
            raise Refused("not_blacklisted", f"{hotkey} is not blacklisted")
        self.trigger_event(
            self.Unblacklisted, hotkey=hotkey, reason=check_reason(reason), block=block
        )

    def set_burn(self, burn: float, reason: str, block: int) -> None:
        value = check_burn(burn)
        self.trigger_event(self.BurnSet, burn=value, reason=check_reason(reason), block=block)

    def order_pool_rotation(self, reason: str, block: int) -> None:
        if self.battle is not None:
            raise Refused(
                "battle_in_progress", f"{self.battle.hotkey} is battling: rotate between battles"
            )
        if self.operations.rotation_ordered:
            raise Refused("rotation_already_ordered", "a new pool is drawn at the next step")
        self.trigger_event(self.PoolRotationOrdered, reason=check_reason(reason), block=block)

    def pause(self, reason: str, block: int) -> None:
        if self.operations.paused_at is not None:
            raise Refused("already_paused", f"paused since block {self.operations.paused_at}")
        self.trigger_event(self.Paused, reason=check_reason(reason), block=block)

    def resume(self, reason: str, block: int) -> None:
        paused_at = self.operations.paused_at
        if paused_at is None:
            raise Refused("not_paused", "the contest is running")
        self.trigger_event(
            self.Resumed,
            reason=check_reason(reason),
            block=block,
            paused_blocks=max(0, block - paused_at),
        )

    def _operated_miner(self, hotkey: str) -> MinerRecord:
        rec = self.miners.get(hotkey)
        if rec is None:
            raise Refused("unknown_hotkey", f"{hotkey} has never committed to this contest")
        return rec

    # ---- commands: the queue, from the chain (throne.domain.contest.roster) ----------------

    def observe(self, snapshot: ChainSnapshot) -> None:
        """Turn a chain snapshot into commitments, invalidations and uid changes; a chain
        observation is saved atomically with whatever it implies for a battle."""
        roster.observe(self, snapshot)

    def invalidate(self, hotkey: str, reason: str, block: int) -> None:
        """An outside check (e.g. the model hub) found the hotkey's model invalid."""
        if hotkey not in self.miners:
            raise KeyError(f"unknown hotkey {hotkey}")
        roster.invalidate(self, hotkey, reason, block, None)
