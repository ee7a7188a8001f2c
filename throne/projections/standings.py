"""Standings: the champion, the battle with its per-env progress, the queue, the terminated
miners and the history of reigns, as tables any reader (or a web page) can query."""

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from throne.domain.contest.battle import progress
from throne.domain.contest.config import ContestConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.scorecard import Scorecard
from throne.domain.contest.state import Pool
from throne.projections.base import Projection, insert_ignore

_C = Contest


class StandingsProjection(Projection):
    name = "standings"
    topics = (
        _C.Created.TOPIC,
        _C.Reconfigured.TOPIC,
        _C.Committed.TOPIC,
        _C.Invalidated.TOPIC,
        _C.Registered.TOPIC,
        _C.Deregistered.TOPIC,
        _C.PoolRefreshed.TOPIC,
        _C.ChampionCrowned.TOPIC,
        _C.BattleStarted.TOPIC,
        _C.ChallengerReleased.TOPIC,
        _C.Dethroned.TOPIC,
        _C.Terminated.TOPIC,
        Scorecard.SampleScored.TOPIC,
    )

    def define_tables(self) -> None:
        self.miners = self.table(
            "miners",
            sa.Column("hotkey", sa.String(100), primary_key=True),
            sa.Column("uid", sa.Integer),
            sa.Column("model", sa.Text),
            sa.Column("revision", sa.Text),
            sa.Column("first_block", sa.BigInteger, nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("invalid_reason", sa.Text),
            sa.Column("terminated_reason", sa.Text),
            sa.Column("releases", sa.Integer, nullable=False),
        )
        self.contest = self.table(
            "contest",
            sa.Column("netuid", sa.Integer, primary_key=True),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("champion", sa.Text),  # JSON {hotkey, revision, since}
            sa.Column("battle", sa.Text),  # JSON {hotkey, revision, started, deadline, pool}
            sa.Column("pool", sa.Text),  # JSON {pool, block, seed_commitment, task_ids}
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
        self.reigns = self.table(
            "reigns",
            sa.Column("crowned_at", sa.BigInteger, primary_key=True),  # notification id
            sa.Column("hotkey", sa.String(100), nullable=False),
            sa.Column("revision", sa.Text, nullable=False),
            sa.Column("how", sa.String(30), nullable=False),  # cold_start | dethroned:<old>
            sa.Column("from_block", sa.BigInteger, nullable=False),
            sa.Column("to_block", sa.BigInteger),
            sa.Column("ended_by", sa.Text),  # the hotkey that took the crown, or a reason
        )

    # ---- handlers -----------------------------------------------------------------------------

    @singledispatchmethod
    def process(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        """Events this projection does not need change nothing."""

    @process.register
    def _(self, e: Contest.Created, conn: sa.Connection, nid: int) -> None:
        conn.execute(
            sa.insert(self.contest).values(netuid=e.netuid, config=_dump(e.config.to_dict()))
        )

    @process.register
    def _(self, e: Contest.Reconfigured, conn: sa.Connection, nid: int) -> None:
        conn.execute(sa.update(self.contest).values(config=_dump(e.config.to_dict())))

    @process.register
    def _(self, e: Contest.Committed, conn: sa.Connection, nid: int) -> None:
        conn.execute(
            sa.insert(self.miners).values(
                hotkey=e.hotkey,
                uid=e.uid,
                model=e.model,
                revision=e.revision,
                first_block=e.first_block,
                status="queued",
                releases=0,
            )
        )

    @process.register
    def _(self, e: Contest.Invalidated, conn: sa.Connection, nid: int) -> None:
        conn.execute(
            insert_ignore(conn, self.miners),
            {
                "hotkey": e.hotkey,
                "uid": e.uid,
                "first_block": e.block,
                "status": "queued",
                "releases": 0,
            },
        )
        conn.execute(
            sa.update(self.miners)
            .where(self.miners.c.hotkey == e.hotkey, self.miners.c.invalid_reason.is_(None))
            .values(invalid_reason=e.reason)
        )

    @process.register
    def _(self, e: Contest.Registered, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, uid=e.uid)

    @process.register
    def _(self, e: Contest.Deregistered, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, uid=None)

    @process.register
    def _(self, e: Contest.PoolRefreshed, conn: sa.Connection, nid: int) -> None:
        pool = {
            "pool": e.pool,
            "block": e.block,
            "seed_commitment": e.seed_commitment,
            "task_ids": e.task_ids,
        }
        conn.execute(sa.update(self.contest).values(pool=_dump(pool)))
        # Only the current pool's scores matter to the standings.
        conn.execute(sa.delete(self.scores).where(self.scores.c.pool < e.pool))

    @process.register
    def _(self, e: Contest.ChampionCrowned, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status="champion")
        champion = {"hotkey": e.hotkey, "revision": e.revision, "since": e.block}
        conn.execute(sa.update(self.contest).values(champion=_dump(champion)))
        self._reign(conn, nid, e.hotkey, e.revision, e.reason, e.block)

    @process.register
    def _(self, e: Contest.BattleStarted, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status="battling")
        battle = {
            "hotkey": e.hotkey,
            "revision": e.revision,
            "started": e.block,
            "deadline": e.deadline_block,
            "pool": e.pool,
        }
        conn.execute(sa.update(self.contest).values(battle=_dump(battle)))

    @process.register
    def _(self, e: Contest.ChallengerReleased, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status="queued", releases=e.releases)
        conn.execute(sa.update(self.contest).values(battle=None))

    @process.register
    def _(self, e: Contest.Dethroned, conn: sa.Connection, nid: int) -> None:
        new = e.new_champion
        assert new.revision is not None
        self._miner(conn, new.hotkey, status="champion")
        champion = {"hotkey": new.hotkey, "revision": new.revision, "since": e.block}
        conn.execute(sa.update(self.contest).values(champion=_dump(champion), battle=None))
        self._end_reign(conn, e.block, new.hotkey)
        how = f"dethroned:{e.old_champion.hotkey}"
        self._reign(conn, nid, new.hotkey, new.revision, how, e.block)

    @process.register
    def _(self, e: Contest.Terminated, conn: sa.Connection, nid: int) -> None:
        self._miner(conn, e.hotkey, status="terminated", terminated_reason=e.reason)
        row = conn.execute(sa.select(self.contest.c.champion, self.contest.c.battle)).first()
        if row is None:
            return
        champion, battle = _load(row.champion), _load(row.battle)
        if battle is not None and battle["hotkey"] == e.hotkey:
            conn.execute(sa.update(self.contest).values(battle=None))
        if champion is not None and champion["hotkey"] == e.hotkey:
            conn.execute(sa.update(self.contest).values(champion=None))
            self._end_reign(conn, e.block, e.reason)

    @process.register
    def _(self, e: Scorecard.SampleScored, conn: sa.Connection, nid: int) -> None:
        if e.outcome == "infra_error":
            return
        conn.execute(
            insert_ignore(conn, self.scores),
            {
                "pool": e.pool,
                "hotkey": e.hotkey,
                "revision": e.revision,
                "env": e.env,
                "task_id": e.task_id,
                "score": float(e.score),
            },
        )

    # ---- helpers ------------------------------------------------------------------------------

    def _miner(self, conn: sa.Connection, hotkey: str, **values: Any) -> None:
        conn.execute(sa.update(self.miners).where(self.miners.c.hotkey == hotkey).values(**values))

    def _reign(
        self, conn: sa.Connection, nid: int, hotkey: str, revision: str, how: str, block: int
    ) -> None:
        conn.execute(
            sa.insert(self.reigns).values(
                crowned_at=nid, hotkey=hotkey, revision=revision, how=how, from_block=block
            )
        )

    def _end_reign(self, conn: sa.Connection, block: int, ended_by: str) -> None:
        conn.execute(
            sa.update(self.reigns)
            .where(self.reigns.c.to_block.is_(None))
            .values(to_block=block, ended_by=ended_by)
        )

    # ---- reads --------------------------------------------------------------------------------

    def read(self, conn: sa.Connection) -> dict[str, Any]:
        """Everything a miner wants to see, as plain data."""
        row = conn.execute(sa.select(self.contest)).first()
        miners = [dict(r._mapping) for r in conn.execute(sa.select(self.miners))]
        out: dict[str, Any] = {
            "champion": None,
            "battle": None,
            "pool": None,
            "queue": [],
            "terminated": sorted(
                (_miner_row(m) for m in miners if m["status"] == "terminated"),
                key=lambda m: m["hotkey"],
            ),
            "reigns": [
                dict(r._mapping)
                for r in conn.execute(sa.select(self.reigns).order_by(self.reigns.c.crowned_at))
            ],
        }
        eligible = [
            m
            for m in miners
            if m["invalid_reason"] is None
            and m["uid"] is not None
            and m["revision"] is not None
            and m["status"] == "queued"
        ]
        eligible.sort(key=lambda m: (m["first_block"], m["uid"]))
        out["queue"] = [{"position": i + 1, **_miner_row(m)} for i, m in enumerate(eligible)]
        if row is None:
            return out
        by_hotkey = {m["hotkey"]: m for m in miners}
        champion, battle, pool = _load(row.champion), _load(row.battle), _load(row.pool)
        if pool is not None:
            out["pool"] = {k: pool[k] for k in ("pool", "block", "seed_commitment")}
        if champion is not None:
            out["champion"] = {
                **_miner_row(by_hotkey[champion["hotkey"]]),
                "since_block": champion["since"],
            }
        if battle is not None and champion is not None and pool is not None:
            config = ContestConfig.from_dict(json.loads(row.config))
            out["battle"] = {
                **_miner_row(by_hotkey[battle["hotkey"]]),
                "started_block": battle["started"],
                "deadline_block": battle["deadline"],
                "progress": self._progress(conn, config, pool, champion, battle),
            }
        return out

    def _progress(
        self,
        conn: sa.Connection,
        config: ContestConfig,
        pool: dict[str, Any],
        champion: dict[str, Any],
        battle: dict[str, Any],
    ) -> dict[str, Any]:
        def scores(side: dict[str, Any]) -> dict[str, dict[int, float]]:
            out: dict[str, dict[int, float]] = {}
            rows = conn.execute(
                sa.select(self.scores.c.env, self.scores.c.task_id, self.scores.c.score).where(
                    self.scores.c.pool == pool["pool"],
                    self.scores.c.hotkey == side["hotkey"],
                    self.scores.c.revision == side["revision"],
                )
            )
            for env, task, score in rows:
                out.setdefault(env, {})[int(task)] = float(score)
            return out

        envs = progress(scores(champion), scores(battle), Pool.from_dict(pool), config)
        return {env: p.to_dict() for env, p in envs.items()}


def _miner_row(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "hotkey": m["hotkey"],
        "uid": m["uid"],
        "model": m["model"],
        "revision": m["revision"],
        "first_block": m["first_block"],
        "status": m["status"],
        "invalid_reason": m["invalid_reason"],
        "terminated_reason": m["terminated_reason"],
        "releases": m["releases"],
    }


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
