"""`miner`: one miner by hotkey or uid — its record, place, weight and what befell it.

`miner_directory` holds that view for every miner at once, for a reader that answers many
lookups from one read of the log (the status API); `parse_miner_key` bounds what a lookup may
ask for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from throne.projections.read_side import ReadSide
from throne.projections.standings import Standings
from throne.views.standings import standings as shape_standings

#: uids are u16 on chain
MAX_UID = 65535
#: an SS58 hotkey is 47 or 48 characters; names on the local chain are shorter
MAX_KEY_CHARS = 64
_UID = re.compile(r"[0-9]{1,5}")
_HOTKEY = re.compile(r"[A-Za-z0-9_.:-]+")


class BadMinerKey(ValueError):
    """What was asked for can be neither a hotkey nor a uid; the message says why."""


def parse_miner_key(who: str) -> str | int:
    """A uid (digits, within the u16 range) or a hotkey (letters, digits and ``_.:-``, at most
    64 of them); anything else is a :class:`BadMinerKey`, before any read of the log."""
    if len(who) > MAX_KEY_CHARS:
        raise BadMinerKey(f"a hotkey or uid has at most {MAX_KEY_CHARS} characters")
    if who.isascii() and who.isdigit():
        if not _UID.fullmatch(who) or int(who) > MAX_UID:
            raise BadMinerKey(f"a uid is a number from 0 to {MAX_UID}")
        return int(who)
    if not _HOTKEY.fullmatch(who):
        raise BadMinerKey("a hotkey has only letters, digits and _ . : -")
    return who


def find_miner(s: Standings, hotkey_or_uid: str | int) -> dict[str, Any] | None:
    """A hotkey first; failing that, a number is the uid a miner sits at now."""
    if isinstance(hotkey_or_uid, str):
        found = s.miner(hotkey_or_uid)
        if found is not None or not hotkey_or_uid.strip().isdigit():
            return None if found is None else found.to_dict()
    return at_uid((m.to_dict() for m in s.miners), int(hotkey_or_uid))


def at_uid(miners: Iterable[Mapping[str, Any]], uid: int) -> dict[str, Any] | None:
    """The miner shown at ``uid``: a uid is only where a hotkey sits now, and the newest
    commitment there is the one shown."""
    here = [m for m in miners if m["uid"] == uid]
    return dict(max(here, key=lambda m: m["first_block"])) if here else None


def miner(reads: ReadSide, hotkey_or_uid: str | int) -> dict[str, Any] | None:
    with reads.read() as r:
        s = r.standings()
        found = find_miner(s, hotkey_or_uid)
        if found is None:
            return None
        events = r.said_about(found["hotkey"])
    return _view(found, shape_standings(s), events)


@dataclass(frozen=True)
class MinerDirectory:
    """The `miner` view of every miner, by hotkey, and which hotkey each uid shows."""

    by_hotkey: Mapping[str, dict[str, Any]]
    by_uid: Mapping[int, str]

    def find(self, hotkey_or_uid: str | int) -> dict[str, Any] | None:
        """As `find_miner`: a hotkey first; failing that, a number is a uid."""
        if isinstance(hotkey_or_uid, str):
            found = self.by_hotkey.get(hotkey_or_uid)
            if found is not None or not hotkey_or_uid.strip().isdigit():
                return found
        hotkey = self.by_uid.get(int(hotkey_or_uid))
        return None if hotkey is None else self.by_hotkey[hotkey]


def miner_directory(reads: ReadSide) -> MinerDirectory:
    with reads.read() as r:
        s = r.standings()
        about = r.said_about_everyone()
    shaped = shape_standings(s)
    miners = [m.to_dict() for m in s.miners]
    by_hotkey = {m["hotkey"]: _view(m, shaped, about.get(m["hotkey"], [])) for m in miners}
    by_uid = {}
    for uid in {m["uid"] for m in miners if m["uid"] is not None}:
        shown = at_uid(miners, uid)
        if shown is not None:
            by_uid[uid] = shown["hotkey"]
    return MinerDirectory(by_hotkey, by_uid)


def _view(
    found: Mapping[str, Any], standings: Mapping[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    position = next(
        (q["position"] for q in standings["queue"] if q["hotkey"] == found["hotkey"]), None
    )
    uid = found["uid"]
    return {
        **found,
        "valid": found["invalid_reason"] is None,
        "queue_position": position,
        "weight": standings["weights"].get(str(uid), 0.0) if uid is not None else 0.0,
        "events": events,
    }
