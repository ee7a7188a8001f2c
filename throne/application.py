"""The application service: the contest's commands and queries over one event log.

Persistence is eventsourcing's: in-memory by default, SQLite or PostgreSQL through the usual
environment (``PERSISTENCE_MODULE`` and friends). Commands load aggregates, run one domain
command, and save everything it touched in one transaction, retrying on a concurrent write.
Queries return plain dicts and frozen records, never aggregates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Transcoder

from throne.adapters.storage.transcoder import OrjsonTranscoder
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.domain.contest.pool import completeness_threshold
from throne.domain.contest.rules import judge_env
from throne.domain.contest.samples import InvalidSample, Sample, SideScores
from throne.domain.contest.scorecard import ConflictingSample, Scorecard, empty_side
from throne.domain.queue.snapshot import ChainSnapshot

T = TypeVar("T")
MAX_ATTEMPTS = 8
MAX_STEPS_PER_TICK = 8


@dataclass(frozen=True)
class RecordReport:
    """What became of a batch of samples."""

    accepted: int = 0
    duplicates: int = 0
    rejected: tuple[tuple[Sample, str], ...] = field(default=())


@dataclass(frozen=True)
class WorkItem:
    """One evaluation the contest wants: this miner on this task of this pool."""

    pool: int
    env: str
    task_id: int
    hotkey: str
    revision: str
    attempt: int = 0


class ThroneApplication(Application[UUID]):
    name = "throne"
    snapshotting_intervals = {Contest: 100, Scorecard: 200, WeightLedger: 100}  # noqa: RUF012

    def __init__(self, config: ContestConfig, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.config = config
        self.contest_id = Contest.create_id(netuid=config.netuid)
        self.ledger_id = WeightLedger.create_id(netuid=config.netuid)

    def construct_transcoder(self) -> Transcoder:
        # The same JSON as eventsourcing's own transcoder, encoded faster (see OrjsonTranscoder).
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    # ---- loading --------------------------------------------------------------------------

    def _contest(self) -> Contest:
        try:
            contest: Contest = self.repository.get(self.contest_id)
        except AggregateNotFoundError:
            contest = Contest(netuid=self.config.netuid, config=self.config.to_dict())
        return contest

    def _scorecard(self, pool: int, hotkey: str, revision: str) -> Scorecard | None:
        sid = Scorecard.create_id(
            netuid=self.config.netuid, pool=pool, hotkey=hotkey, revision=revision
        )
        try:
            card: Scorecard = self.repository.get(sid)
        except AggregateNotFoundError:
            return None
        return card

    def side_scores(self, pool: int, hotkey: str, revision: str) -> SideScores:
        card = self._scorecard(pool, hotkey, revision)
        return empty_side(pool, hotkey, revision) if card is None else card.side()

    def _retry(self, command: Callable[[], T]) -> T:
        for attempt in range(MAX_ATTEMPTS):
            try:
                return command()
            except IntegrityError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    # ---- commands -------------------------------------------------------------------------

    def observe_chain(self, snapshot: ChainSnapshot) -> int:
        """Record what a chain snapshot says about miners; returns the number of new events."""

        def run() -> int:
            contest = self._contest()
            contest.observe(snapshot)
            n = len(contest.pending_events)
            if n:
                self.save(contest)
            return n

        return self._retry(run)

    def tick(self, block: int, seed: bytes) -> list[str]:
        """Take every contest step due at ``block``; returns what happened, in order."""
        steps: list[str] = []
        for _ in range(MAX_STEPS_PER_TICK):
            what = self._retry(lambda: self._step(block, seed))
            if what is None:
                break
            steps.append(what)
            if what == "pool_refreshed":
                break  # a refresh tick does nothing else
        return steps

    def _step(self, block: int, seed: bytes) -> str | None:
        contest = self._contest()
        if contest.battle is None and contest.config != self.config.to_dict():
            contest.reconfigure(self.config, block)
        champion, challenger = self._sides(contest)
        what = contest.tick(block, seed, champion, challenger)
        if contest.pending_events:
            self.save(contest)
        return what

    def _sides(self, contest: Contest) -> tuple[SideScores | None, SideScores | None]:
        pool = contest.pool_index()
        if pool is None:
            return None, None
        champion = challenger = None
        if contest.champion is not None:
            champion = self.side_scores(
                pool, contest.champion["hotkey"], contest.champion["revision"]
            )
        contender = contest.challenger_view() or contest.queue_head()
        if contender is not None and contender.revision is not None:
            challenger = self.side_scores(pool, contender.hotkey, contender.revision)
        return champion, challenger

    def release_challenger(self, block: int, reason: str) -> None:
        """Infrastructure could not serve the challenger (deploy failed, endpoint down...)."""

        def run() -> None:
            contest = self._contest()
            contest.release_challenger(block, reason)
            self.save(contest)

        self._retry(run)

    def invalidate(self, hotkey: str, reason: str, block: int) -> None:
        def run() -> None:
            contest = self._contest()
            contest.invalidate(hotkey, reason, block)
            if contest.pending_events:
                self.save(contest)

        self._retry(run)

    def record_samples(self, batch: Iterable[Sample]) -> RecordReport:
        """Record finished evaluations in one transaction; bad ones are rejected, not raised."""
        samples = list(batch)
        return self._retry(lambda: self._record_batch(samples))

    def _record_batch(self, samples: Sequence[Sample]) -> RecordReport:
        contest = self._contest()
        pool = contest.pool_index()
        task_ids = {env: set(ids) for env, ids in contest.pool_task_ids().items()}
        sampling = set(contest.sampling())
        cards: dict[tuple[str, str], Scorecard] = {}
        accepted = duplicates = 0
        rejected: list[tuple[Sample, str]] = []
        for s in samples:
            if s.pool != pool:
                rejected.append((s, f"not_current_pool:{s.pool}!={pool}"))
                continue
            if s.task_id not in task_ids.get(s.env, ()):
                rejected.append((s, f"task_not_in_pool:{s.env}#{s.task_id}"))
                continue
            if (s.hotkey, s.revision) not in sampling:
                rejected.append((s, "miner_not_sampled"))
                continue
            key = (s.hotkey, s.revision)
            card = cards.get(key) or self._scorecard(s.pool, s.hotkey, s.revision)
            if card is None:
                card = Scorecard(
                    netuid=self.config.netuid, pool=s.pool, hotkey=s.hotkey, revision=s.revision
                )
            cards[key] = card
            try:
                result = card.record(s)
            except (ConflictingSample, InvalidSample) as exc:
                rejected.append((s, f"{type(exc).__name__}:{exc}"))
                continue
            if result == "accepted":
                accepted += 1
            else:
                duplicates += 1
        dirty = [c for c in cards.values() if c.pending_events]
        if dirty:
            self.save(*dirty)
        return RecordReport(accepted, duplicates, tuple(rejected))

    def record_weights(
        self,
        *,
        block: int,
        weights: Mapping[int, float],
        u16: Sequence[tuple[int, int]],
        ok: bool,
        extrinsic: str | None,
        error: str | None,
        contest_version: int,
    ) -> None:
        def run() -> None:
            try:
                ledger: WeightLedger = self.repository.get(self.ledger_id)
            except AggregateNotFoundError:
                ledger = WeightLedger(netuid=self.config.netuid)
            ledger.record(
                block=block,
                weights=dict(weights),
                u16=list(u16),
                ok=ok,
                extrinsic=extrinsic,
                error=error,
                contest_version=contest_version,
            )
            self.save(ledger)

        self._retry(run)

    # ---- queries --------------------------------------------------------------------------

    def last_weights_block(self) -> int | None:
        """The block of the last weight submission attempt, if any."""
        last = list(self.events.get(self.ledger_id, desc=True, limit=1))
        if not last or not isinstance(last[0], WeightLedger.WeightsSet):
            return None
        return int(last[0].block)

    def last_landed_weights(self) -> dict[str, Any] | None:
        """The last submission recorded as landed on chain: its ``block``, ``u16`` pairs
        (sorted by uid) and ``contest_version``; None if none landed."""
        for e in self.events.get(self.ledger_id, desc=True):
            if isinstance(e, WeightLedger.WeightsSet) and e.ok and e.u16:
                return {
                    "block": int(e.block),
                    "u16": sorted([int(uid), int(value)] for uid, value in e.u16),
                    "contest_version": int(e.contest_version),
                }
        return None

    def weights_at(self, version: int) -> dict[int, float]:
        """The weight vector the contest gave at ``version`` (of its own stream)."""
        contest: Contest = self.repository.get(self.contest_id, version=version)
        return contest.weights()

    def contest_version(self) -> int:
        return self._contest().version

    def weights(self) -> tuple[int, dict[int, float]]:
        """The weight vector the contest gives now, with the contest version it comes from."""
        contest = self._contest()
        return contest.version, contest.weights()

    def miner(self, hotkey: str) -> dict[str, Any] | None:
        m = self._contest().miner(hotkey)
        return None if m is None else m.to_dict()

    def miners(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self._contest().all_miners()]

    def pool(self) -> dict[str, Any] | None:
        """The current pool without its seed (secret until the pool is retired)."""
        pool = self._contest().pool
        return None if pool is None else dict(pool)

    def pending_work(self) -> list[WorkItem]:
        """What the samplers should evaluate next: the champion on its whole pool, the
        challenger on the tasks the champion has scored. Infra errors are retried."""
        contest = self._contest()
        pool = contest.pool_index()
        if pool is None:
            return []
        task_ids = contest.pool_task_ids()
        scoring = {e.name for e in contest.settings.scoring_envs}
        work: list[WorkItem] = []
        champ_scores: dict[str, dict[int, float]] = {}
        if contest.champion is not None:
            hk, rev = contest.champion["hotkey"], contest.champion["revision"]
            card = self._scorecard(pool, hk, rev)
            champ_scores = card.scores() if card else {}
            work += _missing(pool, hk, rev, task_ids, card)
        if contest.battle is not None:
            hk, rev = contest.battle["hotkey"], contest.battle["revision"]
            card = self._scorecard(pool, hk, rev)
            wanted = {
                env: [t for t in ids if env not in scoring or t in champ_scores.get(env, {})]
                for env, ids in task_ids.items()
            }
            work += _missing(pool, hk, rev, wanted, card)
        return work

    def standings(self) -> dict[str, Any]:
        """Champion, battle with per-env progress, queue with positions, terminated miners."""
        contest = self._contest()
        cfg = contest.settings
        champ = contest.champion_view()
        pool = contest.pool
        out: dict[str, Any] = {
            "contest_version": contest.version,
            "champion": None,
            "battle": None,
            "pool": None
            if pool is None
            else {k: pool[k] for k in ("pool", "block", "seed_commitment")},
            "queue": [{"position": i + 1, **m.to_dict()} for i, m in enumerate(contest.queue())],
            "terminated": [m.to_dict() for m in contest.all_miners() if m.status == "terminated"],
            "weights": {str(k): v for k, v in contest.weights().items()},
        }
        if champ is not None and contest.champion is not None:
            out["champion"] = {**champ.to_dict(), "since_block": contest.champion["since"]}
        chal = contest.challenger_view()
        if chal is not None and contest.battle is not None and pool is not None:
            champion, challenger = self._sides(contest)
            progress = {}
            rules = cfg.rules()
            for env in cfg.scoring_envs:
                allowed = set(pool["task_ids"][env.name])
                c = {
                    t: s
                    for t, s in (champion.scores if champion else {}).get(env.name, {}).items()
                    if t in allowed
                }
                d = {
                    t: s
                    for t, s in (challenger.scores if challenger else {}).get(env.name, {}).items()
                    if t in allowed
                }
                v = judge_env(c, d, rules.envs[env.name])
                progress[env.name] = {
                    "common": v.n,
                    "needed": env.sampling_count,
                    "champion_mean": v.champion_mean,
                    "challenger_mean": v.challenger_mean,
                    "dominant_threshold": v.dominant_threshold,
                    "not_worse_threshold": v.not_worse_threshold,
                    "champion_scored": len(c),
                    "champion_needed": completeness_threshold(len(allowed), cfg.completeness),
                }
            out["battle"] = {
                **chal.to_dict(),
                "started_block": contest.battle["started"],
                "deadline_block": contest.battle["deadline"],
                "progress": progress,
            }
        return out


def _missing(
    pool: int,
    hotkey: str,
    revision: str,
    task_ids: Mapping[str, Sequence[int]],
    card: Scorecard | None,
) -> list[WorkItem]:
    out = []
    for env, ids in task_ids.items():
        done = card.results.get(env, {}) if card else {}
        failed = card.infra.get(env, {}) if card else {}
        for t in ids:
            key = str(t)
            if key not in done:
                out.append(WorkItem(pool, env, t, hotkey, revision, len(failed.get(key, []))))
    return out
