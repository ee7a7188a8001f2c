"""Standings: the contest as it stands — its rules, champion, battle and task pool, every
miner's record, and the scores of the sides still in play on the current pool.

Each handler does to the rows what the event does to the `Contest` aggregate, so the rows are
the aggregate's state, one table per part. One column more than the aggregate holds: each
miner's commitment's other keys (``chute_id``...), which no rule of the contest reads but the
hosting scheduler hands to its host (`Standings.extra`). Scores are kept only while they can
be read: those of the current pool, for miners not terminated (the champion, the challenger,
and challengers released back to the queue, whose scores count again if they return).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import singledispatchmethod
from typing import Any

import attrs
import sqlalchemy as sa

from throne.domain.contest.battle import EnvProgress, Judgement, judge_battle, progress_of
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.operator import Operations
from throne.domain.contest.rules import Scores
from throne.domain.contest.scorecard import Scorecard
from throne.domain.contest.state import Battle, Champion, Pool
from throne.domain.contest.weights import contest_weights
from throne.domain.queue.commitment import MAX_COMMITMENT_BYTES
from throne.domain.queue.miners import MinerRecord, Status, queue_order
from throne.projections.base import CONTEST_TOPICS, Projection, dump_json, load_json

#: a miner's columns: `MinerRecord`'s fields, in their order, but the commitment's digest
MINER_FIELDS = tuple(f.name for f in attrs.fields(MinerRecord) if f.name != "text_digest")


@dataclass(frozen=True)
class Standings:
    """The standings at one position of the log: the contest's state as its aggregate holds
    it. ``config`` is the contest's recorded rules (None before the contest is created);
    ``version`` its own version (1, the version of its creation, before then); ``last_block``
    the block of its newest event that names one."""

    config: ContestConfig | None = None
    version: int = 1
    last_block: int | None = None
    #: every miner's record, in the order the contest first recorded them
    miners: tuple[MinerRecord, ...] = ()
    champion: Champion | None = None
    battle: Battle | None = None
    pool: Pool | None = None
    #: the champion's and the battle's challenger's scores on the current pool
    champion_scores: Scores = field(default_factory=dict)
    challenger_scores: Scores = field(default_factory=dict)
    #: each committed miner's commitment's other keys, by hotkey (none for a miner whose
    #: commitment had none)
    extras: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    #: what operators have set: a pause, a burn, a pool rotation ordered
    operations: Operations = field(default_factory=Operations)

    def miner(self, hotkey: str) -> MinerRecord | None:
        return next((m for m in self.miners if m.hotkey == hotkey), None)

    def extra(self, hotkey: str) -> Mapping[str, object]:
        """The keys of ``hotkey``'s commitment beside model and revision (``chute_id``...)."""
        return self.extras.get(hotkey, {})

    def queue(self) -> list[MinerRecord]:
        """The eligible miners in the order they battle."""
        return queue_order(self.miners)

    def champion_record(self) -> MinerRecord | None:
        return None if self.champion is None else self.miner(self.champion.hotkey)

    def challenger_record(self) -> MinerRecord | None:
        return None if self.battle is None else self.miner(self.battle.hotkey)

    def weights(self) -> dict[int, float]:
        """The vector the contest gives now."""
        champion = self.champion_record()
        if champion is None or self.config is None:
            return contest_weights(None, False, 0.0)
        burn = self.operations.burn_in_force(self.config.burn)
        return contest_weights(champion.uid, champion.paid, burn)

    def judgement(self) -> Judgement | None:
        """What the contest's rule makes of the battle's evidence now (None between battles)."""
        if self.battle is None or self.pool is None or self.config is None:
            return None
        return judge_battle(self.champion_scores, self.challenger_scores, self.pool, self.config)

    def progress(self) -> dict[str, EnvProgress]:
        """The battle's progress per scoring env (none between battles)."""
        judged = self.judgement()
        if judged is None or self.pool is None or self.config is None:
            return {}
        return progress_of(judged, self.champion_scores, self.pool, self.config)


class StandingsProjection(Projection):
    name = "standings"
    # 2: the miners' commitment extras; 3: operator actions (blacklists, burn, pause, rotation)
    schema = 3
    # Every contest event moves the contest's version; samples fill the scores.
    topics = (*CONTEST_TOPICS, Scorecard.SampleScored.TOPIC)
    # A sample is taken only for the pool of its time, and a new pool drops every older pool's
    # scores: a long log's samples (most of it) before its newest pool are never read.
    reset_topic = Contest.PoolRefreshed.TOPIC
    discarded_by_reset = (Scorecard.SampleScored.TOPIC,)

    def define_tables(self) -> None:
        self.contest = self.table(
            "contest",
            sa.Column("netuid", sa.Integer, primary_key=True),
            sa.Column("config", sa.Text, nullable=False),  # JSON, as recorded
            sa.Column("version", sa.BigInteger, nullable=False),
            sa.Column("last_block", sa.BigInteger),
            sa.Column("champion_hotkey", sa.String(100)),
            sa.Column("champion_revision", sa.Text),
            sa.Column("champion_since", sa.BigInteger),
            sa.Column("battle_hotkey", sa.String(100)),
            sa.Column("battle_revision", sa.Text),
            sa.Column("battle_started", sa.BigInteger),
            sa.Column("battle_deadline", sa.BigInteger),
            sa.Column("battle_pool", sa.BigInteger),
            sa.Column("battle_infra_baseline", sa.BigInteger),
            sa.Column("pool", sa.BigInteger),
            sa.Column("pool_block", sa.BigInteger),
            sa.Column("pool_seed_commitment", sa.String(64)),
            sa.Column("pool_task_ids", sa.Text),  # JSON {env: [task id, ...]}
            sa.Column("operations", sa.Text),  # JSON `Operations.to_dict()`; NULL: none yet
        )
        self.miners = self.table(
            "miners",
            sa.Column("hotkey", sa.String(100), primary_key=True),
            # the notification id that first recorded the miner: the contest's order of miners
            sa.Column("seq", sa.BigInteger, nullable=False, index=True),
            sa.Column("uid", sa.Integer),
            sa.Column("model", sa.Text),
            sa.Column("revision", sa.Text),
            sa.Column("first_block", sa.BigInteger, nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("invalid_reason", sa.Text),
            sa.Column("terminated_reason", sa.Text),
            sa.Column("releases", sa.Integer, nullable=False),
            sa.Column("model_hash", sa.Text),
            sa.Column("blacklisted", sa.Text),
            # JSON {key: value}: the commitment's other keys; NULL when it had none
            sa.Column("extra", sa.Text),
        )
        self.scores = self.table(
            "scores",
            sa.Column("pool", sa.Integer, primary_key=True),
            sa.Column("hotkey", sa.String(100), primary_key=True),
            sa.Column("revision", sa.String(200), primary_key=True),
            sa.Column("env", sa.String(50), primary_key=True),
            sa.Column("task_id", sa.BigInteger, primary_key=True),
            sa.Column("score", sa.Float, nullable=False),
        )

    # ---- handlers -----------------------------------------------------------------------------

    def handle(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        self._apply(event, conn, notification_id)
        if isinstance(event, Scorecard.SampleScored | Contest.Created):
            return
        block = getattr(event, "block", None)
        if isinstance(block, int):
            self._contest(conn, version=event.originator_version, last_block=block)
        else:
            self._contest(conn, version=event.originator_version)

    @singledispatchmethod
    def _apply(self, event: Any, conn: sa.Connection, nid: int) -> None:
        """Events this projection does not need change nothing."""

    @_apply.register
    def _(self, e: Contest.Created, conn: sa.Connection, nid: int) -> None:
        config = dump_json(e.config.to_dict())
        row = {"netuid": e.netuid, "config": config, "version": e.originator_version}
        self.insert(conn, self.contest, row)

    @_apply.register
    def _(self, e: Contest.Reconfigured, conn: sa.Connection, nid: int) -> None:
        self._contest(conn, config=dump_json(e.config.to_dict()))

    @_apply.register
    def _(self, e: Contest.Committed, conn: sa.Connection, nid: int) -> None:
        self._record(
            conn,
            nid,
            e.hotkey,
            e.uid,
            e.model,
            e.revision,
            e.first_block,
            replace=True,
            extra=extra_json(e.extra),
        )

    @_apply.register
    def _(self, e: Contest.Invalidated, conn: sa.Connection, nid: int) -> None:
        self._record(conn, nid, e.hotkey, e.uid, None, None, e.block, replace=False)
        m = self.miners

        def build() -> Any:
            return (
                sa.update(m)
                .where(m.c.hotkey == sa.bindparam("hk"), m.c.invalid_reason.is_(None))
                .values(invalid_reason=sa.bindparam("reason"))
            )

        conn.execute(self.prepared(("invalidate",), build), {"hk": e.hotkey, "reason": e.reason})

    @_apply.register
    def _(self, e: Contest.Registered, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, uid=e.uid)

    @_apply.register
    def _(self, e: Contest.Deregistered, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, uid=None)

    @_apply.register
    def _(self, e: Contest.ModelHashRecorded, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, model_hash=e.model_hash)

    @_apply.register
    def _(self, e: Contest.PoolRefreshed, conn: sa.Connection, nid: int) -> None:
        self._contest(
            conn,
            pool=e.pool,
            pool_block=e.block,
            pool_seed_commitment=e.seed_commitment,
            pool_task_ids=dump_json(e.task_ids),
        )
        self._operations(conn, lambda o: attrs.evolve(o, rotation_ordered=False))
        # A battle never spans two pools: no read asks for a retired pool's scores.
        s = self.scores

        def build() -> Any:
            return sa.delete(s).where(s.c.pool < sa.bindparam("pool"))

        conn.execute(self.prepared(("retire",), build), {"pool": e.pool})

    @_apply.register
    def _(self, e: Contest.ChampionCrowned, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status=Status.CHAMPION.value)
        self._crown(conn, e.hotkey, e.revision, e.block)

    @_apply.register
    def _(self, e: Contest.BattleStarted, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status=Status.BATTLING.value)
        self._contest(
            conn,
            battle_hotkey=e.hotkey,
            battle_revision=e.revision,
            battle_started=e.block,
            battle_deadline=e.deadline_block,
            battle_pool=e.pool,
            battle_infra_baseline=e.infra_baseline,
        )

    @_apply.register
    def _(self, e: Contest.ChallengerReleased, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status=Status.QUEUED.value, releases=e.releases)
        # A queued miner released before its battle leaves the battle (of another) alone.
        battle = {"battle_hotkey": e.hotkey}
        self.update(conn, self.contest, battle, **dict.fromkeys(_BATTLE_COLUMNS))

    @_apply.register
    def _(self, e: Contest.Dethroned, conn: sa.Connection, nid: int) -> None:
        new = e.new_champion
        assert new.revision is not None  # a challenger has committed
        self._miner(conn, new.hotkey, status=Status.CHAMPION.value)
        self._crown(conn, new.hotkey, new.revision, e.block)
        self._contest(conn, **dict.fromkeys(_BATTLE_COLUMNS))

    @_apply.register
    def _(self, e: Contest.Terminated, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status=Status.TERMINATED.value, terminated_reason=e.reason)
        battle = {"battle_hotkey": e.hotkey}
        self.update(conn, self.contest, battle, **dict.fromkeys(_BATTLE_COLUMNS))
        champion = {"champion_hotkey": e.hotkey}
        self.update(conn, self.contest, champion, **dict.fromkeys(_CHAMPION_COLUMNS))
        # One shot per hotkey: its scores are never read again.
        self.delete(conn, self.scores, {"hotkey": e.hotkey})

    @_apply.register
    def _(self, e: Contest.Blacklisted, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, blacklisted=e.reason)
        battle = {"battle_hotkey": e.hotkey}
        if self.update(conn, self.contest, battle, **dict.fromkeys(_BATTLE_COLUMNS)):
            self._miner(conn, e.hotkey, status=Status.QUEUED.value)

    @_apply.register
    def _(self, e: Contest.Unblacklisted, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, blacklisted=None)

    @_apply.register
    def _(self, e: Contest.BurnSet, conn: sa.Connection, nid: int) -> None:
        self._operations(conn, lambda o: attrs.evolve(o, burn=e.burn))

    @_apply.register
    def _(self, e: Contest.PoolRotationOrdered, conn: sa.Connection, nid: int) -> None:
        self._operations(conn, lambda o: attrs.evolve(o, rotation_ordered=True))

    @_apply.register
    def _(self, e: Contest.Paused, conn: sa.Connection, nid: int) -> None:
        self._operations(conn, lambda o: attrs.evolve(o, paused_at=e.block))

    @_apply.register
    def _(self, e: Contest.Resumed, conn: sa.Connection, nid: int) -> None:
        self._operations(conn, lambda o: attrs.evolve(o, paused_at=None))
        c = self.contest

        def build() -> Any:
            return (
                sa.update(c)
                .where(c.c.battle_hotkey.is_not(None))
                .values(battle_deadline=c.c.battle_deadline + sa.bindparam("blocks"))
            )

        conn.execute(self.prepared(("resume",), build), {"blocks": e.paused_blocks})

    @_apply.register
    def _(self, e: Scorecard.SampleScored, conn: sa.Connection, nid: int) -> None:
        if e.outcome == "infra_error":
            return  # a failure on our side is no result
        score = {
            "pool": e.pool,
            "hotkey": e.hotkey,
            "revision": e.revision,
            "env": e.env,
            "task_id": e.task_id,
            "score": float(e.score),
        }
        self.insert(conn, self.scores, score, ignore=True)  # the first result of a task stands

    # ---- helpers ------------------------------------------------------------------------------

    def _record(
        self,
        conn: sa.Connection,
        nid: int,
        hotkey: str,
        uid: int | None,
        model: str | None,
        revision: str | None,
        first_block: int,
        *,
        replace: bool,
        extra: str | None = None,
    ) -> None:
        """A miner's record as the contest first makes it (``replace``: made afresh, keeping
        its place in the order, if one exists); ``extra``: its commitment's other keys, as
        `extra_json` gives them."""
        fresh = {
            "uid": uid,
            "model": model,
            "revision": revision,
            "first_block": first_block,
            "status": Status.QUEUED.value,
            "invalid_reason": None,
            "terminated_reason": None,
            "releases": 0,
            "model_hash": None,
            "extra": extra,
        }
        self.insert(conn, self.miners, {"hotkey": hotkey, "seq": nid, **fresh}, ignore=True)
        if replace:
            self._miner(conn, hotkey, **fresh)

    def _miner(self, conn: sa.Connection, hotkey: str, **values: Any) -> None:
        self.update(conn, self.miners, {"hotkey": hotkey}, **values)

    def _contest(self, conn: sa.Connection, **values: Any) -> None:
        self.update(conn, self.contest, {}, **values)

    def _operations(self, conn: sa.Connection, change: Callable[[Operations], Operations]) -> None:
        row = conn.execute(sa.select(self.contest.c.operations)).first()
        now = Operations() if row is None or row[0] is None else _operations(row[0])
        after = change(now)
        if after != now:
            self._contest(conn, operations=dump_json(after.to_dict()))

    def _crown(self, conn: sa.Connection, hotkey: str, revision: str, block: int) -> None:
        self._contest(
            conn, champion_hotkey=hotkey, champion_revision=revision, champion_since=block
        )

    # ---- reads --------------------------------------------------------------------------------

    def read(self, conn: sa.Connection) -> Standings:
        row = conn.execute(sa.select(self.contest).where(self.contest.c.netuid == self.netuid))
        contest = row.first()
        m = self.miners
        # One query for the records and their extras: a read is on every scheduler pass.
        ordered = sa.select(*(m.c[k] for k in MINER_FIELDS), m.c.extra).order_by(m.c.seq)
        records = []
        extras = {}
        for *fields, extra in conn.execute(ordered):
            record = _record(dict(zip(MINER_FIELDS, fields, strict=True)))
            records.append(record)
            if extra is not None:
                extras[record.hotkey] = load_json(extra)
        miners = tuple(records)
        if contest is None:
            return Standings(miners=miners, extras=extras)
        champion = battle = pool = None
        champion_scores: Scores = {}
        challenger_scores: Scores = {}
        if contest.pool is not None:
            pool = Pool(
                contest.pool,
                contest.pool_block,
                contest.pool_seed_commitment,
                load_json(contest.pool_task_ids),
            )
        if contest.champion_hotkey is not None:
            champion = Champion(
                contest.champion_hotkey, contest.champion_revision, contest.champion_since
            )
            if pool is not None:
                champion_scores = self._scores(conn, pool.pool, champion.hotkey, champion.revision)
        if contest.battle_hotkey is not None:
            battle = Battle(
                contest.battle_hotkey,
                contest.battle_revision,
                contest.battle_started,
                contest.battle_deadline,
                contest.battle_pool,
                contest.battle_infra_baseline,
            )
            if pool is not None:
                challenger_scores = self._scores(conn, pool.pool, battle.hotkey, battle.revision)
        return Standings(
            operations=Operations()
            if contest.operations is None
            else _operations(contest.operations),
            config=ContestConfig.from_dict(load_json(contest.config)),
            version=int(contest.version),
            last_block=contest.last_block,
            miners=miners,
            champion=champion,
            battle=battle,
            pool=pool,
            champion_scores=champion_scores,
            challenger_scores=challenger_scores,
            extras=extras,
        )

    def _scores(
        self, conn: sa.Connection, pool: int, hotkey: str, revision: str
    ) -> dict[str, dict[int, float]]:
        s = self.scores.c
        rows = conn.execute(
            sa.select(s.env, s.task_id, s.score).where(
                s.pool == pool, s.hotkey == hotkey, s.revision == revision
            )
        )
        out: dict[str, dict[int, float]] = {}
        for env, task, score in rows:
            out.setdefault(env, {})[int(task)] = float(score)
        return out


def extra_json(extra: Mapping[str, object]) -> str | None:
    """The commitment's other keys as the ``extra`` column holds them: None when there are
    none, or when they would not fit in a commitment (`MAX_COMMITMENT_BYTES`), which the chain
    reader already refuses: a log written otherwise must not grow a row without bound."""
    if not extra:
        return None
    try:
        text = dump_json(dict(extra))
    except TypeError:  # orjson's error for what is not JSON (only a log written by hand)
        return None
    return text if len(text.encode()) <= MAX_COMMITMENT_BYTES else None


def _operations(text: str) -> Operations:
    return Operations.from_dict(load_json(text))


def _record(fields: dict[str, Any]) -> MinerRecord:
    return MinerRecord(**{**fields, "status": Status(fields["status"])})


_CHAMPION_COLUMNS = ("champion_hotkey", "champion_revision", "champion_since")
_BATTLE_COLUMNS = (
    "battle_hotkey",
    "battle_revision",
    "battle_started",
    "battle_deadline",
    "battle_pool",
    "battle_infra_baseline",
)
