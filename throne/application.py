"""The application service: the contest's commands and queries over one event log.

Persistence is eventsourcing's: in-memory by default, SQLite or PostgreSQL through the usual
environment (``PERSISTENCE_MODULE`` and friends). Commands load aggregates, run one domain
command, and save everything it touched in one transaction, retrying on a concurrent write.
Its few queries are what the daemon's loops need to act (the work owed, the weights to set);
they return plain dicts and frozen records, never aggregates. Everything shown to a person is
read through the read side (`throne.projections`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoder

from throne.adapters.storage.transcoder import OrjsonTranscoder, domain_transcodings
from throne.domain.contest.admission import RecordReport, record_batch
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.domain.contest.operator import Refused
from throne.domain.contest.samples import Sample, SideScores
from throne.domain.contest.scorecard import Scorecard, empty_side
from throne.domain.contest.state import Step
from throne.domain.contest.work import WorkItem, owed_work
from throne.domain.queue.snapshot import ChainSnapshot

__all__ = ["RecordReport", "ThroneApplication", "WorkItem"]

T = TypeVar("T")
#: whether a miner's model, ``(hotkey, revision)``, is served now
Ready = Callable[[str, str], bool]
MAX_ATTEMPTS = 8
#: the operator's commands of the contest (`ThroneApplication.operate`)
OPERATOR_ACTIONS = (
    "blacklist",
    "unblacklist",
    "set_burn",
    "order_pool_rotation",
    "pause",
    "resume",
)
MAX_STEPS_PER_TICK = 8


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

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in domain_transcodings():
            transcoder.register(transcoding)

    # ---- loading --------------------------------------------------------------------------

    def _contest(self) -> Contest:
        try:
            contest: Contest = self.repository.get(self.contest_id)
        except AggregateNotFoundError:
            contest = Contest(netuid=self.config.netuid, config=self.config)
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

    def tick(self, block: int, seed: bytes, ready: Ready | None = None) -> list[Step]:
        """Take every contest step due at ``block``; returns what happened, in order.

        ``ready(hotkey, revision)`` says whether a miner's model is served now (the daemon's
        hosting); a battle starts only once the champion and the queue head both are. None:
        every model is always served (a gateway that serves them all)."""
        steps: list[Step] = []
        for _ in range(MAX_STEPS_PER_TICK):
            what = self._retry(lambda: self._step(block, seed, ready))
            if what is None:
                break
            steps.append(what)
            if what is Step.POOL_REFRESHED:
                break  # a refresh tick does nothing else
        return steps

    def _step(self, block: int, seed: bytes, ready: Ready | None) -> Step | None:
        contest = self._contest()
        if contest.battle is None and contest.config != self.config:
            contest.reconfigure(self.config, block)
        champion, challenger = self._sides(contest)
        what = contest.tick(
            block, seed, champion, challenger, sides_ready=_sides_ready(contest, ready)
        )
        if contest.pending_events:
            self.save(contest)
        return what

    def _sides(self, contest: Contest) -> tuple[SideScores | None, SideScores | None]:
        pool = contest.pool_index()
        if pool is None:
            return None, None
        champion = challenger = None
        if contest.champion is not None:
            champion = self.side_scores(pool, contest.champion.hotkey, contest.champion.revision)
        contender = contest.contender()
        if contender is not None:
            challenger = self.side_scores(pool, *contender)
        return champion, challenger

    def release_challenger(self, block: int, reason: str) -> None:
        """Infrastructure could not serve the challenger (deploy failed, endpoint down...)."""

        def run() -> None:
            contest = self._contest()
            contest.release_challenger(block, reason)
            self.save(contest)

        self._retry(run)

    def release(self, hotkey: str, reason: str, block: int) -> None:
        """Infrastructure could not serve ``hotkey``, battling or queued (`Contest.release`):
        its deploy failed, or its deployment turned unhealthy."""

        def run() -> None:
            contest = self._contest()
            contest.release(hotkey, reason, block)
            self.save(contest)

        self._retry(run)

    def invalidate(self, hotkey: str, reason: str, block: int) -> None:
        def run() -> None:
            contest = self._contest()
            contest.invalidate(hotkey, reason, block)
            if contest.pending_events:
                self.save(contest)

        self._retry(run)

    def operate(self, action: str, reason: str, block: int | None = None, **args: Any) -> int:
        """An operator's action (`throne.domain.contest.operator`), recorded at ``block``
        (default: the newest block the contest's events name): ``blacklist`` and
        ``unblacklist`` (``hotkey=``), ``set_burn`` (``burn=``), ``order_pool_rotation``,
        ``pause``, ``resume``. Raises `Refused` naming the rule it breaks; returns the
        contest's version after it."""
        if action not in OPERATOR_ACTIONS:
            raise ValueError(f"unknown operator action {action!r}")

        def run() -> int:
            try:
                contest: Contest = self.repository.get(self.contest_id)
            except AggregateNotFoundError:
                raise Refused("no_contest", "the log holds no contest yet") from None
            at = self.last_block() if block is None else block
            getattr(contest, action)(reason=reason, block=at, **args)
            self.save(contest)
            return int(contest.version)

        return self._retry(run)

    def record_samples(self, batch: Iterable[Sample]) -> RecordReport:
        """Record finished evaluations in one transaction; bad ones are rejected, not raised."""
        samples = list(batch)
        return self._retry(lambda: self._record_batch(samples))

    def _record_batch(self, samples: Sequence[Sample]) -> RecordReport:
        contest = self._contest()
        pool, sampled = contest.pool_index(), contest.sampling()
        named = {(s.hotkey, s.revision) for s in samples}
        cards = {}
        if pool is not None:
            for hotkey, revision in named.intersection(sampled):
                card = self._scorecard(pool, hotkey, revision)
                cards[(hotkey, revision)] = card or Scorecard(
                    netuid=self.config.netuid, pool=pool, hotkey=hotkey, revision=revision
                )
        report = record_batch(samples, contest.pool, sampled, cards)
        dirty = [c for c in cards.values() if c.pending_events]
        if dirty:
            self.save(*dirty)
        return report

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

    def last_block(self) -> int:
        """The newest block the contest's events name (0 before any does)."""
        for e in self.events.get(self.contest_id, desc=True, limit=50):
            block = getattr(e, "block", None)
            if isinstance(block, int):
                return block
        return 0

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

    def pending_work(self) -> list[WorkItem]:
        """What the samplers should evaluate next (`owed_work`)."""
        contest = self._contest()
        pool = contest.pool
        if pool is None:
            return []
        champion = challenger = None
        if contest.champion is not None:
            champion = self.side_scores(
                pool.pool, contest.champion.hotkey, contest.champion.revision
            )
        if contest.battle is not None:
            challenger = self.side_scores(pool.pool, contest.battle.hotkey, contest.battle.revision)
        return owed_work(
            pool, contest.config, champion, challenger, paused=contest.operations.paused
        )


def _sides_ready(contest: Contest, ready: Ready | None) -> bool:
    """Whether the champion and the queue head both answer, for a battle to start; asked only
    between battles, when there is a champion and a head (nothing else needs an answer)."""
    if ready is None or contest.battle is not None or contest.champion is None:
        return True
    head = contest.queue_head()
    if head is None or head.revision is None:
        return True
    champion = contest.champion
    return ready(champion.hotkey, champion.revision) and ready(head.hotkey, head.revision)
