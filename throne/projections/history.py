"""History: the reigns, the battles and the terminations of the contest, and what each of its
events says about each miner, in the order the log holds them.

- A reign opens when a champion is crowned (cold start) or dethrones the champion, and closes
  when it is dethroned or its holder is terminated (an unservable champion abdicates).
- A battle opens when it starts, against the champion of the open reign, and ends dethroned,
  terminated (with the verdict, if any) or released.
- A termination is a row per ``Terminated``.
- An operator action (blacklist, burn, pool rotation, pause) is a row with its stated reason; a
  blacklist ends its challenger's battle as ``abandoned``.

Verdicts are kept as their summary (`summarize_verdict`): winner, reason, and per env the
outcome with the numbers it was decided on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any

import sqlalchemy as sa

from throne.domain.contest.contest import Contest
from throne.domain.contest.rules import Verdict
from throne.projections.base import JSON_COLUMN, Projection, dump_json, load_json

_C = Contest
#: the operator's events, and the action each records
OPERATOR_ACTION_NAMES: dict[type[Contest.Event], str] = {
    _C.Blacklisted: "blacklist",
    _C.Unblacklisted: "unblacklist",
    _C.BurnSet: "set_burn",
    _C.PoolRotationOrdered: "rotate_pool",
    _C.Paused: "pause",
    _C.Resumed: "resume",
}
OPERATOR_EVENTS = tuple(OPERATOR_ACTION_NAMES)


def summarize_verdict(verdict: Verdict) -> dict[str, Any]:
    """A verdict's winner, reason and, per env, the outcome with the numbers it was decided on."""
    return {
        "winner": verdict.winner,
        "reason": verdict.reason,
        "per_env": {
            env: {
                "verdict": v.verdict,
                "n": v.n,
                "champion_mean": v.champion_mean,
                "challenger_mean": v.challenger_mean,
                "dominant_threshold": v.dominant_threshold,
                "not_worse_threshold": v.not_worse_threshold,
            }
            for env, v in verdict.per_env.items()
        },
    }


@dataclass(frozen=True)
class History:
    """The history at one position of the log, oldest first."""

    reigns: tuple[dict[str, Any], ...] = ()
    battles: tuple[dict[str, Any], ...] = ()
    terminations: tuple[dict[str, Any], ...] = ()
    #: every operator action with its stated reason (`throne.domain.contest.operator`)
    operator_actions: tuple[dict[str, Any], ...] = ()


class HistoryProjection(Projection):
    name = "history"
    topics = (
        _C.Committed.TOPIC,
        _C.Invalidated.TOPIC,
        _C.Registered.TOPIC,
        _C.Deregistered.TOPIC,
        _C.ModelHashRecorded.TOPIC,
        _C.ChampionCrowned.TOPIC,
        _C.BattleStarted.TOPIC,
        _C.ChallengerReleased.TOPIC,
        _C.Dethroned.TOPIC,
        _C.Terminated.TOPIC,
        _C.Blacklisted.TOPIC,
        _C.Unblacklisted.TOPIC,
        _C.BurnSet.TOPIC,
        _C.PoolRotationOrdered.TOPIC,
        _C.Paused.TOPIC,
        _C.Resumed.TOPIC,
    )
    # 2: operator actions
    schema = 2

    def define_tables(self) -> None:
        self.reigns_table = self.table(
            "reigns",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),  # of the crowning
            sa.Column("hotkey", sa.String(100), nullable=False),
            sa.Column("uid", sa.Integer),
            sa.Column("model", sa.Text),
            sa.Column("revision", sa.Text),
            sa.Column("from_block", sa.BigInteger, nullable=False),
            sa.Column("to_block", sa.BigInteger),
            sa.Column("taken_by", sa.Text, nullable=False, info=JSON_COLUMN),
            sa.Column("ended_by", sa.Text, info=JSON_COLUMN),
        )
        self.battles_table = self.table(
            "battles",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),  # of its start
            sa.Column("challenger", sa.String(100), nullable=False),
            sa.Column("revision", sa.Text),
            sa.Column("uid", sa.Integer),
            sa.Column("champion", sa.String(100)),
            sa.Column("pool", sa.BigInteger, nullable=False),
            sa.Column("started_block", sa.BigInteger, nullable=False),
            sa.Column("ended_block", sa.BigInteger),
            sa.Column("result", sa.String(20), nullable=False),
            sa.Column("reason", sa.Text),
            sa.Column("verdict", sa.Text, info=JSON_COLUMN),  # summary
        )
        self.terminations_table = self.table(
            "terminations",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("hotkey", sa.String(100), nullable=False),
            sa.Column("uid", sa.Integer),
            sa.Column("revision", sa.Text),
            sa.Column("block", sa.BigInteger, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("verdict", sa.Text, info=JSON_COLUMN),  # summary
        )
        self.operator_table = self.table(
            "operator_actions",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("action", sa.String(40), nullable=False),
            sa.Column("block", sa.BigInteger, nullable=False),
            sa.Column("hotkey", sa.String(100)),
            sa.Column("burn", sa.Float),
            sa.Column("reason", sa.Text, nullable=False),
        )
        self.about_table = self.table(
            "about",
            sa.Column("notification_id", sa.BigInteger, primary_key=True),
            sa.Column("hotkey", sa.String(100), primary_key=True, index=True),
            sa.Column("event", sa.String(40), nullable=False),
            sa.Column("said", sa.Text, nullable=False),  # JSON
        )

    # ---- handlers -----------------------------------------------------------------------------

    def handle(self, event: Any, conn: sa.Connection, notification_id: int) -> None:
        if isinstance(event, OPERATOR_EVENTS):
            self._operator(event, conn, notification_id)
        else:
            self._apply(event, conn, notification_id)
        for hotkey, said in describe(event):
            row = {
                "notification_id": notification_id,
                "hotkey": hotkey,
                "event": said["event"],
                "said": _dump(said),
            }
            self.insert(conn, self.about_table, row)

    @singledispatchmethod
    def _apply(self, event: Any, conn: sa.Connection, nid: int) -> None:
        """Events that only say something about a miner."""

    @_apply.register
    def _(self, e: Contest.ChampionCrowned, conn: sa.Connection, nid: int) -> None:
        taken = {"how": "cold_start", "reason": e.reason}
        self._open_reign(conn, nid, e.hotkey, e.revision, e.uid, e.block, taken)

    @_apply.register
    def _(self, e: Contest.BattleStarted, conn: sa.Connection, nid: int) -> None:
        reign = self._latest(conn, self.reigns_table)
        champion = reign.hotkey if reign is not None and reign.to_block is None else None
        battle = {
            "notification_id": nid,
            "challenger": e.hotkey,
            "revision": e.revision,
            "uid": e.uid,
            "champion": champion,
            "pool": e.pool,
            "started_block": e.block,
            "ended_block": None,
            "result": "ongoing",
            "reason": None,
            "verdict": None,
        }
        self.insert(conn, self.battles_table, battle)

    @_apply.register
    def _(self, e: Contest.ChallengerReleased, conn: sa.Connection, nid: int) -> None:
        battle = self._latest(conn, self.battles_table)
        # A queued miner released before its battle ends no battle (not its last one either).
        ongoing = battle is not None and battle.result == "ongoing"
        if ongoing and battle.challenger == e.hotkey:
            self._end_battle(conn, battle, e.block, "released", e.reason, None)

    @_apply.register
    def _(self, e: Contest.Dethroned, conn: sa.Connection, nid: int) -> None:
        new, old = e.new_champion, e.old_champion
        reign = self._latest(conn, self.reigns_table)
        if reign is not None:
            self._close_reign(conn, reign, e.block, {"how": "dethroned", "by": new.hotkey})
        won = summarize_verdict(e.verdict)
        taken = {"how": "dethrone", "from": old.hotkey, "pool": e.pool, "verdict": won}
        assert new.revision is not None  # a challenger has committed
        self._open_reign(conn, nid, new.hotkey, new.revision, new.uid, e.block, taken)
        battle = self._latest(conn, self.battles_table)
        if battle is not None and battle.result == "ongoing":
            self._end_battle(conn, battle, e.block, "dethroned", str(won["reason"]), won)

    @_apply.register
    def _(self, e: Contest.Terminated, conn: sa.Connection, nid: int) -> None:
        lost = None if e.verdict is None else summarize_verdict(e.verdict)
        termination = {
            "notification_id": nid,
            "hotkey": e.hotkey,
            "uid": e.uid,
            "revision": e.revision,
            "block": e.block,
            "reason": e.reason,
            "verdict": _dump_or_none(lost),
        }
        self.insert(conn, self.terminations_table, termination)
        reign = self._latest(conn, self.reigns_table)
        if reign is not None and reign.hotkey == e.hotkey and reign.to_block is None:
            self._close_reign(conn, reign, e.block, {"how": "terminated", "reason": e.reason})
        battle = self._latest(conn, self.battles_table)
        if battle is not None and battle.challenger == e.hotkey and battle.result == "ongoing":
            self._end_battle(conn, battle, e.block, "terminated", e.reason, lost)

    def _operator(self, e: Any, conn: sa.Connection, nid: int) -> None:
        action = {
            "notification_id": nid,
            "action": OPERATOR_ACTION_NAMES[type(e)],
            "block": e.block,
            "hotkey": getattr(e, "hotkey", None),
            "burn": getattr(e, "burn", None),
            "reason": e.reason,
        }
        self.insert(conn, self.operator_table, action)
        if isinstance(e, Contest.Blacklisted):
            battle = self._latest(conn, self.battles_table)
            if battle is not None and battle.challenger == e.hotkey and battle.result == "ongoing":
                self._end_battle(
                    conn, battle, e.block, "abandoned", f"blacklisted: {e.reason}", None
                )

    # ---- helpers ------------------------------------------------------------------------------

    def _latest(self, conn: sa.Connection, table: sa.Table) -> Any:
        def build() -> Any:
            return sa.select(table).order_by(table.c.notification_id.desc()).limit(1)

        return conn.execute(self.prepared(("latest", table.name), build)).first()

    def _open_reign(
        self,
        conn: sa.Connection,
        nid: int,
        hotkey: str,
        revision: str,
        uid: int | None,
        block: int,
        taken: dict[str, Any],
    ) -> None:
        reign = {
            "notification_id": nid,
            "hotkey": hotkey,
            "uid": uid,
            "model": self._model(conn, hotkey),
            "revision": revision,
            "from_block": block,
            "to_block": None,
            "taken_by": _dump(taken),
            "ended_by": None,
        }
        self.insert(conn, self.reigns_table, reign)

    def _model(self, conn: sa.Connection, hotkey: str) -> str | None:
        """The model of the hotkey's commitment (None if it never made a readable one)."""
        a = self.about_table.c

        def build() -> Any:
            return (
                sa.select(a.said)
                .where(a.hotkey == sa.bindparam("hk"), a.event == "Committed")
                .order_by(a.notification_id.desc())
                .limit(1)
            )

        said = conn.execute(self.prepared(("model",), build), {"hk": hotkey}).scalar_one_or_none()
        return None if said is None else load_json(said)["model"]

    def _close_reign(
        self, conn: sa.Connection, reign: Any, block: int, ended_by: dict[str, Any]
    ) -> None:
        where = {"notification_id": reign.notification_id}
        self.update(conn, self.reigns_table, where, to_block=block, ended_by=_dump(ended_by))

    def _end_battle(
        self,
        conn: sa.Connection,
        battle: Any,
        block: int,
        result: str,
        reason: str,
        verdict: dict[str, Any] | None,
    ) -> None:
        self.update(
            conn,
            self.battles_table,
            {"notification_id": battle.notification_id},
            ended_block=block,
            result=result,
            reason=reason,
            verdict=_dump_or_none(verdict),
        )

    # ---- reads --------------------------------------------------------------------------------

    # The tables' columns are in the order the views show them.

    def reigns(self, conn: sa.Connection) -> list[dict[str, Any]]:
        return self.records(conn, self.reigns_table)

    def battles(self, conn: sa.Connection) -> list[dict[str, Any]]:
        return self.records(conn, self.battles_table)

    def terminations(self, conn: sa.Connection) -> list[dict[str, Any]]:
        return self.records(conn, self.terminations_table)

    def operator_actions(self, conn: sa.Connection) -> list[dict[str, Any]]:
        return self.records(conn, self.operator_table)

    def read(self, conn: sa.Connection) -> History:
        return History(
            reigns=tuple(self.reigns(conn)),
            battles=tuple(self.battles(conn)),
            terminations=tuple(self.terminations(conn)),
            operator_actions=tuple(self.operator_actions(conn)),
        )

    def said_about(self, conn: sa.Connection, hotkey: str) -> list[dict[str, Any]]:
        """What the contest's events say about ``hotkey``, oldest first."""
        a = self.about_table.c
        rows = conn.execute(sa.select(a.said).where(a.hotkey == hotkey).order_by(a.notification_id))
        return [load_json(said) for (said,) in rows]

    def said_about_everyone(self, conn: sa.Connection) -> dict[str, list[dict[str, Any]]]:
        """`said_about` for every hotkey, by hotkey in the order each was first spoken of."""
        out: dict[str, list[dict[str, Any]]] = {}
        for hotkey, said in conn.execute(
            sa.select(self.about_table.c.hotkey, self.about_table.c.said).order_by(
                self.about_table.c.notification_id
            )
        ):
            out.setdefault(hotkey, []).append(load_json(said))
        return out


def describe(e: Any) -> list[tuple[str, dict[str, Any]]]:
    """The hotkeys an event is about, each with what it says of it."""
    if isinstance(e, Contest.Dethroned):
        new, old = e.new_champion.hotkey, e.old_champion.hotkey
        won = {"event": "Dethroned", "block": e.block, "beat": old, **_verdict(e.verdict)}
        return [(new, won), (old, {"event": "Dethroned", "block": e.block, "lost_to": new})]
    hotkey = getattr(e, "hotkey", None)
    about = _own(e) if isinstance(hotkey, str) else None
    return [] if about is None else [(str(hotkey), {"event": type(e).__name__, **about})]


def _own(e: Any) -> dict[str, Any] | None:
    if isinstance(e, Contest.Committed):
        return {"block": e.first_block, "uid": e.uid, "model": e.model, "revision": e.revision}
    if isinstance(e, Contest.Terminated):
        return {"block": e.block, "reason": e.reason, **_verdict(e.verdict)}
    if isinstance(
        e,
        Contest.Invalidated
        | Contest.ChallengerReleased
        | Contest.ChampionCrowned
        | Contest.Blacklisted
        | Contest.Unblacklisted,
    ):
        return {"block": e.block, "reason": e.reason}
    if isinstance(e, Contest.BattleStarted):
        return {"block": e.block, "deadline_block": e.deadline_block, "pool": e.pool}
    if isinstance(e, Contest.Registered):
        return {"block": e.block, "uid": e.uid}
    if isinstance(e, Contest.Deregistered):
        return {"block": e.block}
    if isinstance(e, Contest.ModelHashRecorded):
        return {"model_hash": e.model_hash}
    return None


def _verdict(verdict: Verdict | None) -> dict[str, Any]:
    return {} if verdict is None else {"verdict": summarize_verdict(verdict)}


def _dump(value: Any) -> str:
    return dump_json(value)


def _dump_or_none(value: Any) -> str | None:
    return None if value is None else dump_json(value)
