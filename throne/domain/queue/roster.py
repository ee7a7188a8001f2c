"""The queue's commands on the contest: commitments, validity and uid changes from the chain.

A mixin of `Contest`: its commands trigger the contest's own events (``Committed``,
``Invalidated``, ``Registered``, ``Deregistered``, ``ModelHashRecorded``), so a chain
observation is saved atomically with whatever it implies for a battle.
"""

from __future__ import annotations

import hashlib
from typing import Any

from throne.domain.contest.config import ContestConfig
from throne.domain.queue.commitment import Rejection, parse_commitment, validity_problem
from throne.domain.queue.snapshot import ChainSnapshot


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class RosterCommands:
    """Commands reading the chain. ``self`` is the `Contest` they are mixed into."""

    def observe(self: Any, snapshot: ChainSnapshot) -> None:
        """Turn a chain snapshot into commitments, invalidations and uid changes."""
        cfg = self.settings
        uids = {n.hotkey: n.uid for n in snapshot.neurons}
        readable = [c for c in snapshot.commitments if c.status in ("plain", "revealed")]
        for com in sorted(readable, key=lambda c: (c.block, c.hotkey)):
            uid = uids.get(com.hotkey)
            if uid is None:
                continue  # only registered hotkeys are miners
            digest = _digest(com.text)
            rec = self.miners.get(com.hotkey)
            if rec is None:
                self._first_commitment(com.hotkey, uid, com.text, com.block, digest, cfg)
            elif rec["text_digest"] != digest:
                self._invalidate(com.hotkey, "multiple_commits", snapshot.block, digest)
        for hk, rec in list(self.miners.items()):
            now = uids.get(hk)
            if now == rec["uid"]:
                continue
            if now is None:
                self.trigger_event(self.Deregistered, hotkey=hk, block=snapshot.block)
            else:
                self.trigger_event(self.Registered, hotkey=hk, uid=now, block=snapshot.block)
        self._record_model_hashes(snapshot)

    def _first_commitment(
        self: Any, hotkey: str, uid: int, text: str, block: int, digest: str, cfg: ContestConfig
    ) -> None:
        parsed = parse_commitment(text)
        if isinstance(parsed, Rejection):
            self.trigger_event(
                self.Invalidated,
                hotkey=hotkey,
                uid=uid,
                reason=parsed.reason,
                block=block,
                text_digest=digest,
            )
            return
        self.trigger_event(
            self.Committed,
            hotkey=hotkey,
            uid=uid,
            model=parsed.model,
            revision=parsed.revision,
            first_block=block,
            extra=parsed.extra,
            text_digest=digest,
        )
        problem = validity_problem(parsed, hotkey, cfg.model_marker)
        if problem is not None:
            self._invalidate(hotkey, problem, block, digest)

    def _record_model_hashes(self: Any, snapshot: ChainSnapshot) -> None:
        known = {(m, r): h for m, r, h in snapshot.model_hashes}
        for hk, rec in self.miners.items():
            h = known.get((rec["model"], rec["revision"]))
            if h is not None and rec["model_hash"] is None:
                self.trigger_event(self.ModelHashRecorded, hotkey=hk, model_hash=h)
        # The earliest committer of a hash keeps it; later ones are copies.
        first_of: dict[str, str] = {}
        ordered = sorted(
            (m for m in self.all_miners() if m.model_hash is not None),
            key=lambda m: (m.first_block, m.uid if m.uid is not None else -1, m.hotkey),
        )
        for m in ordered:
            assert m.model_hash is not None
            original = first_of.setdefault(m.model_hash, m.hotkey)
            if original != m.hotkey and m.valid:
                self._invalidate(m.hotkey, f"copy_of:{original}", snapshot.block, None)

    def invalidate(self: Any, hotkey: str, reason: str, block: int) -> None:
        """An outside check (e.g. the model hub) found the hotkey's model invalid."""
        if hotkey not in self.miners:
            raise KeyError(f"unknown hotkey {hotkey}")
        if self.miners[hotkey]["invalid_reason"] is None:
            self._invalidate(hotkey, reason, block, None)

    def _invalidate(self: Any, hotkey: str, reason: str, block: int, digest: str | None) -> None:
        rec = self.miners.get(hotkey)
        if rec is not None and rec["invalid_reason"] is not None:
            return
        uid = rec["uid"] if rec is not None else None
        self.trigger_event(
            self.Invalidated, hotkey=hotkey, uid=uid, reason=reason, block=block, text_digest=digest
        )
        if self.battle is not None and self.battle["hotkey"] == hotkey:
            self._terminate(hotkey, "invalidated_mid_battle", block)
