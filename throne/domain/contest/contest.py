"""The throne: champion, current battle, task pool and the miners' lifecycle, as one aggregate.

Every decision (crown, start, dethrone, terminate, release) touches only this aggregate, so it
is one atomic save, and two writers racing on one log cannot both decide: optimistic
concurrency rejects the second. Samples live in per-(pool, miner) `Scorecard` streams; a
decision receives them as `SideScores` and records their versions.

Commands check a rule and then trigger events; ``apply`` methods never fail and do no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from throne.domain.contest.config import ContestConfig
from throne.domain.contest.pool import completeness_threshold, derive_task_ids, seed_commitment
from throne.domain.contest.rules import Verdict, judge, judge_env
from throne.domain.contest.samples import SideScores
from throne.domain.contest.weights import contest_weights
from throne.domain.ids import NAMESPACE
from throne.domain.queue.miners import MinerView, new_record, queue_order, view
from throne.domain.queue.roster import RosterCommands


class WrongScores(ValueError):
    """Scores handed to a decision that belong to another miner or pool."""


class BattleInProgress(ValueError):
    """The command needs the contest to be between battles."""


class NoBattle(ValueError):
    """The command needs a battle in progress."""


class Contest(RosterCommands, Aggregate):
    TOPIC = "throne:Contest"

    # ---- events -------------------------------------------------------------------------

    class Created(Aggregate.Created):
        TOPIC = "throne:Contest.Created"
        netuid: int
        config: dict[str, Any]

    class Reconfigured(Aggregate.Event):
        TOPIC = "throne:Contest.Reconfigured"
        config: dict[str, Any]
        block: int

        def apply(self, c: Any) -> None:
            c.config = self.config

    class Committed(Aggregate.Event):
        """A hotkey's commitment, first seen on chain."""

        TOPIC = "throne:Contest.Committed"
        hotkey: str
        uid: int
        model: str
        revision: str
        first_block: int
        extra: dict[str, Any]
        text_digest: str

        def apply(self, c: Any) -> None:
            c.miners[self.hotkey] = new_record(
                self.uid, self.model, self.revision, self.first_block, self.text_digest
            )

    class Invalidated(Aggregate.Event):
        """A hotkey broke a validity rule (for good): it never battles, and a champion burns."""

        TOPIC = "throne:Contest.Invalidated"
        hotkey: str
        uid: int | None
        reason: str
        block: int
        text_digest: str | None

        def apply(self, c: Any) -> None:
            rec = c.miners.get(self.hotkey)
            if rec is None:
                rec = c.miners[self.hotkey] = new_record(
                    self.uid, None, None, self.block, self.text_digest
                )
            if rec["invalid_reason"] is None:
                rec["invalid_reason"] = self.reason

    class Registered(Aggregate.Event):
        """A known hotkey now sits at ``uid`` (re-registered or moved)."""

        TOPIC = "throne:Contest.Registered"
        hotkey: str
        uid: int
        block: int

        def apply(self, c: Any) -> None:
            c.miners[self.hotkey]["uid"] = self.uid

    class Deregistered(Aggregate.Event):
        TOPIC = "throne:Contest.Deregistered"
        hotkey: str
        block: int

        def apply(self, c: Any) -> None:
            c.miners[self.hotkey]["uid"] = None

    class ModelHashRecorded(Aggregate.Event):
        TOPIC = "throne:Contest.ModelHashRecorded"
        hotkey: str
        model_hash: str

        def apply(self, c: Any) -> None:
            c.miners[self.hotkey]["model_hash"] = self.model_hash

    class PoolRefreshed(Aggregate.Event):
        """A new task pool. ``seed`` is secret until this pool is retired (export redacts it)."""

        TOPIC = "throne:Contest.PoolRefreshed"
        pool: int
        block: int
        seed: str
        seed_commitment: str
        task_ids: dict[str, list[int]]
        champion_missed_pools: int

        def apply(self, c: Any) -> None:
            c.pool = {
                "pool": self.pool,
                "block": self.block,
                "seed_commitment": self.seed_commitment,
                "task_ids": self.task_ids,
            }
            c.champion_missed_pools = self.champion_missed_pools

    class ChampionCrowned(Aggregate.Event):
        """The queue head takes an empty throne without a contest (cold start)."""

        TOPIC = "throne:Contest.ChampionCrowned"
        hotkey: str
        revision: str
        uid: int
        block: int
        reason: str

        def apply(self, c: Any) -> None:
            c.miners[self.hotkey]["status"] = "champion"
            c.champion = {"hotkey": self.hotkey, "revision": self.revision, "since": self.block}
            c.champion_missed_pools = 0

    class BattleStarted(Aggregate.Event):
        TOPIC = "throne:Contest.BattleStarted"
        hotkey: str
        revision: str
        uid: int
        block: int
        deadline_block: int
        pool: int
        infra_baseline: int

        def apply(self, c: Any) -> None:
            c.miners[self.hotkey]["status"] = "battling"
            c.battle = {
                "hotkey": self.hotkey,
                "revision": self.revision,
                "started": self.block,
                "deadline": self.deadline_block,
                "pool": self.pool,
                "infra_baseline": self.infra_baseline,
            }

    class ChallengerReleased(Aggregate.Event):
        """We could not serve the challenger: it goes back to its place in the queue."""

        TOPIC = "throne:Contest.ChallengerReleased"
        hotkey: str
        revision: str
        reason: str
        releases: int
        block: int

        def apply(self, c: Any) -> None:
            rec = c.miners[self.hotkey]
            rec["status"] = "queued"
            rec["releases"] = self.releases
            c.battle = None

    class Dethroned(Aggregate.Event):
        """The challenger beat the champion; ``verdict`` holds every number used."""

        TOPIC = "throne:Contest.Dethroned"
        old_champion: dict[str, Any]
        new_champion: dict[str, Any]
        verdict: dict[str, Any]
        block: int
        pool: int
        inputs: dict[str, Any]

        def apply(self, c: Any) -> None:
            hk = self.new_champion["hotkey"]
            c.miners[hk]["status"] = "champion"
            c.champion = {
                "hotkey": hk,
                "revision": self.new_champion["revision"],
                "since": self.block,
            }
            c.battle = None
            c.champion_missed_pools = 0

    class Terminated(Aggregate.Event):
        """A miner's one shot is over: lost, dethroned, invalidated mid-battle, timed out..."""

        TOPIC = "throne:Contest.Terminated"
        hotkey: str
        revision: str | None
        uid: int | None
        reason: str
        verdict: dict[str, Any] | None
        block: int
        inputs: dict[str, Any] | None

        def apply(self, c: Any) -> None:
            rec = c.miners[self.hotkey]
            rec["status"] = "terminated"
            rec["terminated_reason"] = self.reason
            if c.battle is not None and c.battle["hotkey"] == self.hotkey:
                c.battle = None
            if c.champion is not None and c.champion["hotkey"] == self.hotkey:
                c.champion = None

    # ---- construction ---------------------------------------------------------------------

    @staticmethod
    def create_id(netuid: int) -> UUID:
        return uuid5(NAMESPACE, f"contest:{netuid}")

    def __init__(self, netuid: int, config: dict[str, Any]) -> None:
        self.netuid = netuid
        self.config = config
        self.miners: dict[str, dict[str, Any]] = {}
        self.champion: dict[str, Any] | None = None
        self.battle: dict[str, Any] | None = None
        self.pool: dict[str, Any] | None = None
        self.champion_missed_pools = 0

    @property
    def settings(self) -> ContestConfig:
        return ContestConfig.from_dict(self.config)

    # ---- reads ----------------------------------------------------------------------------

    def miner(self, hotkey: str) -> MinerView | None:
        rec = self.miners.get(hotkey)
        return None if rec is None else view(hotkey, rec)

    def all_miners(self) -> list[MinerView]:
        return [view(hk, rec) for hk, rec in self.miners.items()]

    def queue(self) -> list[MinerView]:
        return queue_order(self.all_miners())

    def queue_head(self) -> MinerView | None:
        q = self.queue()
        return q[0] if q else None

    def champion_view(self) -> MinerView | None:
        return None if self.champion is None else self.miner(self.champion["hotkey"])

    def challenger_view(self) -> MinerView | None:
        return None if self.battle is None else self.miner(self.battle["hotkey"])

    def pool_index(self) -> int | None:
        return None if self.pool is None else int(self.pool["pool"])

    def pool_task_ids(self) -> dict[str, list[int]]:
        return {} if self.pool is None else {k: list(v) for k, v in self.pool["task_ids"].items()}

    def sampling(self) -> list[tuple[str, str]]:
        """The (hotkey, revision) pairs whose samples the contest takes now."""
        out = []
        if self.champion is not None:
            out.append((self.champion["hotkey"], self.champion["revision"]))
        if self.battle is not None:
            out.append((self.battle["hotkey"], self.battle["revision"]))
        return out

    def weights(self) -> dict[int, float]:
        champ = self.champion_view()
        if champ is None:
            return contest_weights(None, False, self.settings.burn)
        return contest_weights(champ.uid, champ.valid, self.settings.burn)

    def champion_complete(self, champion: SideScores | None) -> bool:
        """The champion has scored ``ceil(pool * completeness)`` tasks in every scoring env."""
        if self.pool is None or champion is None:
            return False
        cfg = self.settings
        scores = self._restrict(champion)
        for env in cfg.scoring_envs:
            need = completeness_threshold(len(self.pool["task_ids"][env.name]), cfg.completeness)
            if len(scores.get(env.name, {})) < need:
                return False
        return True

    # ---- commands: the contest ------------------------------------------------------------

    def reconfigure(self, config: ContestConfig, block: int) -> None:
        if self.battle is not None:
            raise BattleInProgress("the configuration changes only between battles")
        if config.netuid != self.netuid:
            raise ValueError(f"netuid {config.netuid} != {self.netuid}")
        if config.to_dict() != self.config:
            self.trigger_event(self.Reconfigured, config=config.to_dict(), block=block)

    def tick(
        self,
        block: int,
        seed: bytes,
        champion: SideScores | None = None,
        challenger: SideScores | None = None,
    ) -> str | None:
        """Take at most one step of the contest at ``block``; returns what happened.

        ``champion`` are the champion's scores in the current pool; ``challenger`` those of the
        battle's challenger, or of the queue head between battles. Call again until it returns
        None to take every step due at this block.
        """
        cfg = self.settings
        for side, who in ((champion, self.champion), (challenger, self._contender())):
            if side is not None and who is not None:
                if (side.hotkey, side.revision) != (who["hotkey"], who["revision"]):
                    raise WrongScores(f"scores of {side.hotkey} handed for {who['hotkey']}")
                if side.pool != self.pool_index():
                    raise WrongScores(f"scores of pool {side.pool}, current {self.pool_index()}")
        if self._pool_due(block, cfg):
            self._refresh_pool(block, seed, champion, cfg)
            return "pool_refreshed"
        if self.battle is not None:
            return self._advance_battle(block, champion, challenger, cfg)
        if self.champion is None:
            head = self.queue_head()
            if head is None:
                return None
            assert head.revision is not None and head.uid is not None
            self.trigger_event(
                self.ChampionCrowned,
                hotkey=head.hotkey,
                revision=head.revision,
                uid=head.uid,
                block=block,
                reason="cold_start",
            )
            return "crowned"
        head = self.queue_head()
        if head is None or not self.champion_complete(champion):
            return None
        assert head.revision is not None and head.uid is not None and self.pool is not None
        self.trigger_event(
            self.BattleStarted,
            hotkey=head.hotkey,
            revision=head.revision,
            uid=head.uid,
            block=block,
            deadline_block=block + cfg.battle_deadline_blocks,
            pool=self.pool["pool"],
            infra_baseline=challenger.infra_errors if challenger is not None else 0,
        )
        return "battle_started"

    def release_challenger(self, block: int, reason: str) -> None:
        """Infrastructure failure: the challenger goes back to its place, a bounded number
        of times (``max_releases``); the failure after that terminates it as ``unservable``."""
        if self.battle is None:
            raise NoBattle("no battle to release")
        if block >= int(self.battle["deadline"]):
            self._terminate(self.battle["hotkey"], "deadline", block)
            return
        self._release(block, reason, self.settings)

    def _contender(self) -> dict[str, Any] | None:
        if self.battle is not None:
            return self.battle
        head = self.queue_head()
        return None if head is None else {"hotkey": head.hotkey, "revision": head.revision}

    def _pool_due(self, block: int, cfg: ContestConfig) -> bool:
        if self.pool is None:
            return True
        return self.battle is None and block - int(self.pool["block"]) >= cfg.refresh_blocks

    def _refresh_pool(
        self, block: int, seed: bytes, champion: SideScores | None, cfg: ContestConfig
    ) -> None:
        missed = self.champion_missed_pools
        if self.champion is not None and self.pool is not None:
            missed = 0 if self.champion_complete(champion) else missed + 1
        task_ids = {
            e.name: derive_task_ids(seed, e.name, e.pool_size, e.id_range, e.mode) for e in cfg.envs
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
            self._terminate(self.champion["hotkey"], "unservable_champion", block)

    def _advance_battle(
        self,
        block: int,
        champion: SideScores | None,
        challenger: SideScores | None,
        cfg: ContestConfig,
    ) -> str | None:
        assert self.battle is not None
        hotkey = self.battle["hotkey"]
        if block >= int(self.battle["deadline"]):
            self._terminate(hotkey, "deadline", block)
            return "terminated"
        if challenger is not None:
            fresh = challenger.infra_errors - int(self.battle["infra_baseline"])
            if fresh >= cfg.release_after_infra_errors:
                self._release(block, f"infra_errors:{fresh}", cfg)
                return "released"
        if champion is None or challenger is None:
            return None
        champ, chal = self._restrict(champion), self._restrict(challenger)
        rules = cfg.rules()
        inputs = {
            "champion_scorecard_version": champion.version,
            "challenger_scorecard_version": challenger.version,
            "rule": "early_regression",
        }
        for env in cfg.scoring_envs:
            env_champ, env_chal = champ.get(env.name, {}), chal.get(env.name, {})
            common = len(set(env_champ) & set(env_chal)) if env_champ else len(env_chal)
            if common >= env.sampling_count:
                v = judge_env(env_champ, env_chal, rules.envs[env.name])
                if v.verdict == "worse":
                    verdict = judge(champ, chal, rules)
                    reason = f"lost_to_champion:early_regression_in_{env.name}"
                    self._terminate(hotkey, reason, block, verdict, inputs)
                    return "terminated"
        for env in cfg.scoring_envs:
            env_champ, env_chal = champ.get(env.name, {}), chal.get(env.name, {})
            common = len(set(env_champ) & set(env_chal)) if env_champ else len(env_chal)
            if common < env.sampling_count:
                return None
        verdict = judge(champ, chal, rules)
        inputs["rule"] = "judge"
        if verdict.winner == "challenger":
            self._dethrone(block, verdict, inputs)
            return "dethroned"
        self._terminate(hotkey, f"lost_to_champion:{verdict.reason}", block, verdict, inputs)
        return "terminated"

    def _restrict(self, side: SideScores) -> dict[str, dict[int, float]]:
        """Only the current pool's task ids of scoring envs count."""
        if self.pool is None:
            return {}
        out: dict[str, dict[int, float]] = {}
        for env in self.settings.scoring_envs:
            allowed = set(self.pool["task_ids"][env.name])
            got = side.scores.get(env.name, {})
            out[env.name] = {t: s for t, s in got.items() if t in allowed}
        return out

    def _dethrone(self, block: int, verdict: Verdict, inputs: dict[str, Any]) -> None:
        assert self.champion is not None and self.battle is not None and self.pool is not None
        old = self.miner(self.champion["hotkey"])
        new = self.miner(self.battle["hotkey"])
        assert old is not None and new is not None
        self.trigger_event(
            self.Dethroned,
            old_champion={"hotkey": old.hotkey, "revision": old.revision, "uid": old.uid},
            new_champion={"hotkey": new.hotkey, "revision": new.revision, "uid": new.uid},
            verdict=verdict.to_dict(),
            block=block,
            pool=self.pool["pool"],
            inputs=inputs,
        )
        self._terminate(old.hotkey, f"dethroned_by:{new.hotkey}", block)

    def _terminate(
        self,
        hotkey: str,
        reason: str,
        block: int,
        verdict: Verdict | None = None,
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        rec = self.miners[hotkey]
        self.trigger_event(
            self.Terminated,
            hotkey=hotkey,
            revision=rec["revision"],
            uid=rec["uid"],
            reason=reason,
            verdict=None if verdict is None else verdict.to_dict(),
            block=block,
            inputs=None if inputs is None else dict(inputs),
        )

    def _release(self, block: int, reason: str, cfg: ContestConfig) -> None:
        assert self.battle is not None
        hotkey = self.battle["hotkey"]
        releases = int(self.miners[hotkey]["releases"]) + 1
        if releases > cfg.max_releases:
            self._terminate(hotkey, "unservable", block)
            return
        self.trigger_event(
            self.ChallengerReleased,
            hotkey=hotkey,
            revision=self.battle["revision"],
            reason=reason,
            releases=releases,
            block=block,
        )
