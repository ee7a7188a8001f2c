"""What an auditor has verified of a published log so far: the small state file that lets the
next ``throne audit verify s3://...`` download only the parts published since.

It holds the log's header, the sha256 of every part verified, in order (so that a part replaced
or removed afterwards, or parts reordered, is seen: the index must still name exactly these
first), and the state the last part's final checkpoint signed (where the next part's links
must go on from), with the block the log was then complete to. One file per published log: by
default in the user's cache directory, named after the log's URL.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from throne.audit.format import canonical_json
from throne.audit.links import LinkState
from throne.audit.parts import Opening
from throne.audit.records import Header, decode_line

STATE_FORMAT = "throne-verified-log"
STATE_VERSION = 1


class StateError(Exception):
    """A state file that cannot be read, or is another log's. The message is one line."""


def default_state_path(where: str, environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/throne/verified/<hash of the log's URL>.json`` (``~/.cache`` by
    default)."""
    env = os.environ if environ is None else environ
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = hashlib.sha256(where.encode()).hexdigest()[:24]
    return cache / "throne" / "verified" / f"{name}.json"


@dataclass(frozen=True)
class VerifiedState:
    """The parts of the log at ``where`` verified so far, and where their links end."""

    where: str
    header_line: bytes
    #: the sha256 of each part verified, in order
    parts: tuple[str, ...]
    state: LinkState
    block: int | None

    def opening(self) -> Opening:
        """Where the next part opens, as verified."""
        header = Header.read(self.header_line, line=None)
        return Opening(header, self.header_line, self.state, None, self.block)

    def dump(self) -> bytes:
        s = self.state
        return canonical_json(
            {
                "block": self.block,
                "format": STATE_FORMAT,
                "header": self.header_line.decode(),
                "parts": list(self.parts),
                "state": {
                    "checkpoints": s.checkpoints,
                    "events": s.events,
                    "head": s.head.hex(),
                    "id": s.last_id,
                },
                "version": STATE_VERSION,
                "where": self.where,
            }
        )

    def save(self, path: Path) -> None:
        """Write the state to ``path`` whole or not at all."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(self.dump() + b"\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, where: str) -> VerifiedState | None:
        """The state at ``path`` of the log at ``where``; None if there is none yet."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read the state file {path}: {exc.strerror}") from exc
        try:
            state = cls._parse(decode_line(raw.rstrip(b"\n")))
        except Exception:
            raise StateError(
                f"{path} is not a state file of throne's: remove it, or verify with --full"
            ) from None
        if state.where != where:
            raise StateError(
                f"{path} holds what was verified of {state.where}, not of {where}: "
                "give each log a --state of its own"
            )
        return state

    @classmethod
    def _parse(cls, record: dict[str, Any]) -> VerifiedState:
        if record["format"] != STATE_FORMAT or record["version"] != STATE_VERSION:
            raise ValueError("not a state file")
        s = record["state"]
        state = LinkState(
            int(s["events"]), bytes.fromhex(s["head"]), int(s["id"]), int(s["checkpoints"])
        )
        parts = tuple(str(p) for p in record["parts"])
        block = record["block"]
        if block is not None and type(block) is not int:
            raise ValueError("block")
        header_line = str(record["header"]).encode()
        Header.read(header_line, line=None)
        return cls(str(record["where"]), header_line, parts, state, block)
