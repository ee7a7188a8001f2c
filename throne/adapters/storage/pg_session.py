"""A dedicated PostgreSQL session for advisory locks, that dies soon after its process does.

A session-level advisory lock lasts as long as the session. When the holding process is killed,
its kernel closes the socket and the server ends the session at once. When the network goes
instead, only TCP tells each side that the other is gone, so both ends are given short bounds,
the holder's shorter than the server's: a holder that can no longer reach the server learns it
(within :data:`CLIENT_USER_TIMEOUT_MS`) and stops acting as the writer well before the server
ends its session and lets a standby take the lock (after about ``SERVER_KEEPALIVE_IDLE_S +
SERVER_KEEPALIVE_INTERVAL_S * SERVER_KEEPALIVE_COUNT`` seconds of silence).
"""

from __future__ import annotations

import hashlib
from typing import Any

from throne.adapters.storage.database import Database

#: The holder's side: unacknowledged data, or silence probed by keepalives, ends the session.
CLIENT_USER_TIMEOUT_MS = 3000
CLIENT_KEEPALIVE_IDLE_S = 1
CLIENT_KEEPALIVE_INTERVAL_S = 1
CLIENT_KEEPALIVE_COUNT = 2
#: The server's side, longer: about 11 s of silence before it ends the session.
SERVER_KEEPALIVE_IDLE_S = 5
SERVER_KEEPALIVE_INTERVAL_S = 2
SERVER_KEEPALIVE_COUNT = 3
SERVER_USER_TIMEOUT_MS = 11000


def advisory_key(db: Database, purpose: str) -> int:
    """A signed 64-bit lock key, one per purpose and per log (database and schema)."""
    name = f"throne/{purpose}/{db.dbname}/{db.schema or 'public'}"
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def connect(db: Database) -> Any:
    """An autocommit psycopg connection to ``db`` with short keepalives on both ends."""
    import psycopg

    conn = psycopg.connect(
        host=db.host,
        port=db.port,
        user=db.user,
        password=db.password,
        dbname=db.dbname,
        connect_timeout=db.connect_timeout_s,
        autocommit=True,
        keepalives=1,
        keepalives_idle=CLIENT_KEEPALIVE_IDLE_S,
        keepalives_interval=CLIENT_KEEPALIVE_INTERVAL_S,
        keepalives_count=CLIENT_KEEPALIVE_COUNT,
        tcp_user_timeout=CLIENT_USER_TIMEOUT_MS,
        application_name="throne",
    )
    # These settings are the session's own: no privilege is needed to set them.
    for name, value in (
        ("tcp_keepalives_idle", SERVER_KEEPALIVE_IDLE_S),
        ("tcp_keepalives_interval", SERVER_KEEPALIVE_INTERVAL_S),
        ("tcp_keepalives_count", SERVER_KEEPALIVE_COUNT),
        ("tcp_user_timeout", SERVER_USER_TIMEOUT_MS),
    ):
        conn.execute(f"SET {name} = {value}")
    return conn
