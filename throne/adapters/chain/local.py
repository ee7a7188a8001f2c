"""`LocalChain`: a small chain of our own in one SQLite file, the embedded default.

It keeps what the contest reads from a subnet and nothing more: a block height, registered
hotkeys with uids (256 slots per subnet, the oldest registration recycled when full), the
latest commitment of each hotkey with its block, and weight rows with the rate limit and
version key a real subnet enforces. Blocks advance with wall time (12 s each) or only when
stepped, so a demo can run in real time and a test can fast-forward.

Several processes may share the file (the daemon, `throne localnet`, miners): every call opens
its own connection and writes in one immediate transaction.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from throne.adapters.chain.rate_limit import blocks_until_allowed
from throne.domain.contest.weights import InvalidWeights, to_u16
from throne.domain.queue.snapshot import ChainSnapshot, Commitment, Neuron
from throne.ports.chain import (
    Chain,
    ChainError,
    ChainRefused,
    CommitReceipt,
    OnchainWeights,
    WeightErrorCode,
    WeightSubmission,
)

ClockMode = Literal["wall", "manual"]

DEFAULT_BLOCK_TIME = 12.0
DEFAULT_MAX_UIDS = 256
#: finney's default `WeightsSetRateLimit` (blocks between two weight sets of one hotkey).
DEFAULT_WEIGHTS_RATE_LIMIT = 100
MAX_COMMITMENT_BYTES = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subnets (
    netuid INTEGER PRIMARY KEY,
    max_uids INTEGER NOT NULL,
    weights_rate_limit INTEGER NOT NULL,
    version_key INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS neurons (
    netuid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    registered_block INTEGER NOT NULL,
    last_update INTEGER NOT NULL,
    PRIMARY KEY (netuid, uid),
    UNIQUE (netuid, hotkey)
);
CREATE TABLE IF NOT EXISTS commitments (
    netuid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    block INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (netuid, hotkey)
);
CREATE TABLE IF NOT EXISTS weights (
    netuid INTEGER NOT NULL,
    validator_uid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (netuid, validator_uid, uid)
);
CREATE TABLE IF NOT EXISTS extrinsics (
    block INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    signer TEXT NOT NULL,
    call TEXT NOT NULL,
    ok INTEGER NOT NULL,
    PRIMARY KEY (block, idx)
);
"""


class LocalChainMissing(ChainError):
    """No local chain file at the given path (create one with `LocalChain.init`)."""


@dataclass(frozen=True)
class SubnetParams:
    """The per-subnet limits a LocalChain enforces."""

    netuid: int
    max_uids: int
    weights_rate_limit: int
    version_key: int


class LocalChain(Chain):
    """A subnet chain in a SQLite file; signs as ``hotkey`` (any string names a hotkey here)."""

    def __init__(
        self,
        path: str | Path,
        *,
        hotkey: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = Path(path)
        if not self._path.is_file():
            raise LocalChainMissing(
                f"no local chain at {self._path}; create it with `throne localnet init`"
            )
        self._hotkey = hotkey
        self._clock = clock
        self._check_is_chain()

    def _check_is_chain(self) -> None:
        """Refuse, here and in one line, a file that is not a local chain: else every read of
        a running daemon would fail on it, forever."""
        try:
            conn = self._connect()
            try:
                _meta(conn, "anchor_block")
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return  # a writer holds it for a moment: a chain file all the same
            raise LocalChainMissing(
                f"{self._path} is not a local chain file ({exc}): give the chain_db that "
                "`throne localnet init` created"
            ) from exc

    # -- creation and administration (the `throne localnet` commands) -------------------

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        netuid: int = 120,
        start_block: int = 1,
        clock_mode: ClockMode = "wall",
        block_time: float = DEFAULT_BLOCK_TIME,
        weights_rate_limit: int = DEFAULT_WEIGHTS_RATE_LIMIT,
        version_key: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> LocalChain:
        """Create a new chain file with one subnet; refuses to overwrite an existing one."""
        path = Path(path)
        if path.exists():
            raise ChainRefused(f"{path} already exists; remove it to start a new chain")
        if block_time <= 0:
            raise ChainRefused("block time must be positive")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ChainRefused(f"cannot create the local chain {path}: {exc}") from exc
        try:
            # WAL lets the daemon read while a miner's command writes, and the reverse.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN IMMEDIATE")
            meta = {
                "clock_mode": clock_mode,
                "block_time": repr(float(block_time)),
                "anchor_time": repr(clock()),
                "anchor_block": str(int(start_block)),
            }
            conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            conn.execute(
                "INSERT INTO subnets VALUES (?, ?, ?, ?)",
                (netuid, DEFAULT_MAX_UIDS, weights_rate_limit, version_key),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return cls(path, clock=clock)

    def as_signer(self, hotkey: str) -> LocalChain:
        """The same chain, signing as ``hotkey``."""
        return LocalChain(self._path, hotkey=hotkey, clock=self._clock)

    def advance(self, blocks: int) -> int:
        """Fast-forward ``blocks`` blocks; returns the new current block."""
        if blocks < 0:
            raise ChainRefused("a chain does not go backwards")
        with self._write() as conn:
            anchor = int(_meta(conn, "anchor_block")) + blocks
            conn.execute("UPDATE meta SET value = ? WHERE key = 'anchor_block'", (str(anchor),))
            return self._block(conn)

    def configure_subnet(
        self,
        netuid: int,
        *,
        weights_rate_limit: int | None = None,
        version_key: int | None = None,
        max_uids: int | None = None,
    ) -> SubnetParams:
        """Create ``netuid`` if needed and change the limits given (the owner's hyperparameters)."""
        with self._write() as conn:
            params = self._subnet(conn, netuid, create=True)
            params = SubnetParams(
                netuid,
                max_uids if max_uids is not None else params.max_uids,
                weights_rate_limit if weights_rate_limit is not None else params.weights_rate_limit,
                version_key if version_key is not None else params.version_key,
            )
            conn.execute(
                "UPDATE subnets SET max_uids = ?, weights_rate_limit = ?, version_key = ? "
                "WHERE netuid = ?",
                (params.max_uids, params.weights_rate_limit, params.version_key, netuid),
            )
            return params

    def subnet(self, netuid: int) -> SubnetParams:
        with self._read() as conn:
            return self._subnet(conn, netuid)

    def register(self, netuid: int, hotkey: str) -> int:
        """Give ``hotkey`` a uid on ``netuid``; when all slots are taken the oldest is recycled."""
        if not hotkey.strip():
            raise ChainRefused("a hotkey cannot be empty", code="invalid_argument")
        with self._write() as conn:
            params = self._subnet(conn, netuid, create=True)
            block = self._block(conn)
            taken = conn.execute(
                "SELECT uid FROM neurons WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
            ).fetchone()
            if taken is not None:
                raise ChainRefused(
                    f"hotkey {hotkey} is already registered on subnet {netuid} at uid {taken[0]}",
                    code="already_registered",
                )
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM neurons WHERE netuid = ?", (netuid,)
            ).fetchone()
            if count < params.max_uids:
                uid = int(count)
            else:
                (uid,) = conn.execute(
                    "SELECT uid FROM neurons WHERE netuid = ? "
                    "ORDER BY registered_block, uid LIMIT 1",
                    (netuid,),
                ).fetchone()
                conn.execute("DELETE FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid))
                conn.execute(
                    "DELETE FROM weights WHERE netuid = ? AND validator_uid = ?", (netuid, uid)
                )
            # As on subtensor, registering stamps the uid's last update: a new validator
            # waits out one rate-limit window before its first weights.
            conn.execute(
                "INSERT INTO neurons VALUES (?, ?, ?, ?, ?)", (netuid, uid, hotkey, block, block)
            )
            self._record(conn, block, hotkey, f"register({netuid})", ok=True)
            return uid

    def commit_as(self, hotkey: str, netuid: int, text: str) -> CommitReceipt:
        """Publish ``text`` as ``hotkey``'s commitment (raw, unvalidated: miners may err)."""
        size = len(text.encode("utf-8"))
        if size == 0 or size > MAX_COMMITMENT_BYTES:
            raise ChainRefused(
                f"a commitment must be 1..{MAX_COMMITMENT_BYTES} bytes, got {size}",
                code="invalid_argument",
            )
        with self._write() as conn:
            self._subnet(conn, netuid)
            block = self._block(conn)
            if self._uid(conn, netuid, hotkey) is None:
                raise ChainRefused(
                    f"hotkey {hotkey} is not registered on subnet {netuid}; "
                    "only registered hotkeys may commit",
                    code="not_registered",
                )
            conn.execute(
                "INSERT INTO commitments VALUES (?, ?, ?, ?) "
                "ON CONFLICT (netuid, hotkey) DO UPDATE SET block = excluded.block, "
                "text = excluded.text",
                (netuid, hotkey, block, text),
            )
            ext = self._record(conn, block, hotkey, f"set_commitment({netuid})", ok=True)
            return CommitReceipt(netuid, hotkey, block, text, ext)

    # -- the Chain port -----------------------------------------------------------------

    @property
    def signer_hotkey(self) -> str:
        if self._hotkey is None:
            raise ChainRefused("this local chain handle has no signing hotkey")
        return self._hotkey

    def current_block(self) -> int:
        with self._read() as conn:
            return self._block(conn)

    def snapshot(self, netuid: int) -> ChainSnapshot:
        with self._read() as conn:
            block = self._block(conn)
            neurons = conn.execute(
                "SELECT uid, hotkey FROM neurons WHERE netuid = ? ORDER BY uid", (netuid,)
            ).fetchall()
            commitments = conn.execute(
                "SELECT hotkey, block, text FROM commitments WHERE netuid = ? "
                "ORDER BY block, hotkey",
                (netuid,),
            ).fetchall()
        return ChainSnapshot(
            block=block,
            neurons=tuple(Neuron(uid, hk) for uid, hk in neurons),
            commitments=tuple(Commitment(hk, b, text, "plain") for hk, b, text in commitments),
        )

    def blocks_until_weights_allowed(self, netuid: int, uid: int) -> int:
        with self._read() as conn:
            params = self._subnet(conn, netuid)
            block = self._block(conn)
            row = conn.execute(
                "SELECT last_update FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid)
            ).fetchone()
        if row is None:
            raise ChainRefused(f"uid {uid} is not registered on subnet {netuid}", "not_registered")
        return blocks_until_allowed(block, int(row[0]), params.weights_rate_limit)

    def set_weights(
        self, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WeightSubmission:
        hotkey = self.signer_hotkey
        intended = tuple(sorted((int(uid), float(w)) for uid, w in weights.items()))
        with self._write() as conn:
            block = self._block(conn)

            def refused(
                code: WeightErrorCode,
                message: str,
                sent: tuple[tuple[int, int], ...] = (),
                extrinsic_id: str | None = None,
                retry_in_blocks: int | None = None,
            ) -> WeightSubmission:
                return WeightSubmission(
                    ok=False,
                    netuid=netuid,
                    block=block,
                    version_key=version_key,
                    intended=intended,
                    sent=sent,
                    extrinsic_id=extrinsic_id,
                    error_code=code,
                    error_message=message,
                    retry_in_blocks=retry_in_blocks,
                )

            uid = self._uid(conn, netuid, hotkey)
            if uid is None:
                return refused("not_registered", f"{hotkey} is not registered on {netuid}")
            params = self._subnet(conn, netuid)
            (last,) = conn.execute(
                "SELECT last_update FROM neurons WHERE netuid = ? AND uid = ?", (netuid, uid)
            ).fetchone()
            wait = blocks_until_allowed(block, int(last), params.weights_rate_limit)
            if wait:
                return refused(
                    "rate_limited",
                    f"weights on subnet {netuid} were set {block - last} blocks ago; "
                    f"the rate limit is {params.weights_rate_limit} blocks",
                    retry_in_blocks=wait,
                )
            try:
                sent = to_u16(weights)
            except InvalidWeights as exc:
                return refused("invalid_argument", str(exc))
            # From here on the extrinsic is "included": failures are recorded like the chain's.
            if params.version_key and version_key < params.version_key:
                ext = self._record(conn, block, hotkey, f"set_weights({netuid})", ok=False)
                return refused(
                    "stale_version_key",
                    f"version key {version_key} is older than the subnet's {params.version_key}",
                    sent=sent,
                    extrinsic_id=ext,
                )
            registered = {
                r[0] for r in conn.execute("SELECT uid FROM neurons WHERE netuid = ?", (netuid,))
            }
            unknown = sorted(u for u, _ in sent if u not in registered)
            if unknown:
                ext = self._record(conn, block, hotkey, f"set_weights({netuid})", ok=False)
                return refused(
                    "invalid_argument",
                    f"uids {unknown} are not registered on subnet {netuid}",
                    sent=sent,
                    extrinsic_id=ext,
                )
            conn.execute(
                "DELETE FROM weights WHERE netuid = ? AND validator_uid = ?", (netuid, uid)
            )
            conn.executemany(
                "INSERT INTO weights VALUES (?, ?, ?, ?)",
                [(netuid, uid, dest, value) for dest, value in sent],
            )
            conn.execute(
                "UPDATE neurons SET last_update = ? WHERE netuid = ? AND uid = ?",
                (block, netuid, uid),
            )
            ext = self._record(conn, block, hotkey, f"set_weights({netuid})", ok=True)
            return WeightSubmission(
                ok=True,
                netuid=netuid,
                block=block,
                version_key=version_key,
                intended=intended,
                sent=sent,
                extrinsic_id=ext,
            )

    def onchain_weights(self, netuid: int, validator_uid: int) -> OnchainWeights:
        with self._read() as conn:
            block = self._block(conn)
            rows = conn.execute(
                "SELECT uid, value FROM weights WHERE netuid = ? AND validator_uid = ? "
                "ORDER BY uid",
                (netuid, validator_uid),
            ).fetchall()
        return OnchainWeights(netuid, block, validator_uid, tuple((u, v) for u, v in rows))

    def commit(self, netuid: int, text: str) -> CommitReceipt:
        return self.commit_as(self.signer_hotkey, netuid, text)

    # -- internals ---------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one read transaction: every read sees the same state
            yield conn
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        if not self._path.is_file():
            raise LocalChainMissing(f"the local chain at {self._path} is gone")
        return sqlite3.connect(self._path, isolation_level=None, timeout=10.0)

    def _block(self, conn: sqlite3.Connection) -> int:
        anchor_block = int(_meta(conn, "anchor_block"))
        if _meta(conn, "clock_mode") == "manual":
            return anchor_block
        elapsed = self._clock() - float(_meta(conn, "anchor_time"))
        return anchor_block + max(0, math.floor(elapsed / float(_meta(conn, "block_time"))))

    def _subnet(
        self, conn: sqlite3.Connection, netuid: int, *, create: bool = False
    ) -> SubnetParams:
        row = conn.execute(
            "SELECT max_uids, weights_rate_limit, version_key FROM subnets WHERE netuid = ?",
            (netuid,),
        ).fetchone()
        if row is None:
            if not create:
                raise ChainRefused(f"subnet {netuid} does not exist", code="subnet_not_exists")
            params = SubnetParams(netuid, DEFAULT_MAX_UIDS, DEFAULT_WEIGHTS_RATE_LIMIT, 0)
            conn.execute(
                "INSERT INTO subnets VALUES (?, ?, ?, ?)",
                (netuid, params.max_uids, params.weights_rate_limit, params.version_key),
            )
            return params
        return SubnetParams(netuid, *row)

    @staticmethod
    def _uid(conn: sqlite3.Connection, netuid: int, hotkey: str) -> int | None:
        row = conn.execute(
            "SELECT uid FROM neurons WHERE netuid = ? AND hotkey = ?", (netuid, hotkey)
        ).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def _record(conn: sqlite3.Connection, block: int, signer: str, call: str, *, ok: bool) -> str:
        (idx,) = conn.execute(
            "SELECT COUNT(*) FROM extrinsics WHERE block = ?", (block,)
        ).fetchone()
        conn.execute(
            "INSERT INTO extrinsics VALUES (?, ?, ?, ?, ?)", (block, idx, signer, call, int(ok))
        )
        return f"{block}-{idx:04d}"


def _meta(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise LocalChainMissing(f"not a local chain file (no {key!r})")
    return str(row[0])
