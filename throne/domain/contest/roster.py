"""The queue's commands on the contest: what a chain snapshot says about miners becomes
commitments, invalidations and uid changes of the `Contest`, with the queue's rules
(`throne.domain.queue`) deciding which."""

from __future__ import annotations

from typing import TYPE_CHECKING

from throne.domain.queue.commitment import (
    Rejection,
    commitment_digest,
    parse_commitment,
    validity_problem,
)
from throne.domain.queue.miners import copies
from throne.domain.queue.snapshot import ChainSnapshot

if TYPE_CHECKING:
    from throne.domain.contest.contest import Contest


def observe(contest: Contest, snapshot: ChainSnapshot) -> None:
    """Commitments first seen (in block order), second commitments, uid changes, the model
    hub's validity rules, then model hashes and the copies they reveal."""
    uids = {n.hotkey: n.uid for n in snapshot.neurons}
    readable = [c for c in snapshot.commitments if c.status in ("plain", "revealed")]
    for com in sorted(readable, key=lambda c: (c.block, c.hotkey)):
        uid = uids.get(com.hotkey)
        if uid is None:
            continue  # only registered hotkeys are miners
        digest = commitment_digest(com.text)
        rec = contest.miners.get(com.hotkey)
        if rec is None:
            _first_commitment(contest, com.hotkey, uid, com.text, com.block, digest)
        elif rec.text_digest != digest:
            invalidate(contest, com.hotkey, "multiple_commits", snapshot.block, digest)
    for hk, rec in list(contest.miners.items()):
        now = uids.get(hk)
        if now == rec.uid:
            continue
        if now is None:
            contest.trigger_event(contest.Deregistered, hotkey=hk, block=snapshot.block)
        else:
            contest.trigger_event(contest.Registered, hotkey=hk, uid=now, block=snapshot.block)
    _record_model_invalid(contest, snapshot)
    _record_model_hashes(contest, snapshot)


def invalidate(contest: Contest, hotkey: str, reason: str, block: int, digest: str | None) -> None:
    """The hotkey broke a validity rule, for good (its first broken rule is kept); a
    challenger invalidated mid-battle is terminated."""
    rec = contest.miners.get(hotkey)
    if rec is not None and not rec.valid:
        return
    contest.trigger_event(
        contest.Invalidated,
        hotkey=hotkey,
        uid=None if rec is None else rec.uid,
        reason=reason,
        block=block,
        text_digest=digest,
    )
    if contest.battle is not None and contest.battle.hotkey == hotkey:
        contest.terminate(hotkey, "invalidated_mid_battle", block)


def _first_commitment(
    contest: Contest, hotkey: str, uid: int, text: str, block: int, digest: str
) -> None:
    parsed = parse_commitment(text)
    if isinstance(parsed, Rejection):
        contest.trigger_event(
            contest.Invalidated,
            hotkey=hotkey,
            uid=uid,
            reason=parsed.reason,
            block=block,
            text_digest=digest,
        )
        return
    contest.trigger_event(
        contest.Committed,
        hotkey=hotkey,
        uid=uid,
        model=parsed.model,
        revision=parsed.revision,
        first_block=block,
        extra=parsed.extra,
        text_digest=digest,
    )
    problem = validity_problem(parsed, hotkey, contest.config.model_marker)
    if problem is not None:
        invalidate(contest, hotkey, problem, block, digest)


def _record_model_invalid(contest: Contest, snapshot: ChainSnapshot) -> None:
    """Every miner on a pair the model hub says can never be served is invalidated, once
    (`invalidate` keeps the first broken rule), the hub's reason prefixed ``hub:``."""
    if not snapshot.model_invalid:
        return
    reasons: dict[tuple[str | None, str | None], str] = {}
    for m, r, why in snapshot.model_invalid:
        reasons.setdefault((m, r), why)
    for hk, rec in sorted(contest.miners.items()):
        broken = reasons.get((rec.model, rec.revision))
        if broken is not None and rec.valid:
            invalidate(contest, hk, f"hub:{broken}", snapshot.block, None)


def _record_model_hashes(contest: Contest, snapshot: ChainSnapshot) -> None:
    known: dict[tuple[str | None, str | None], str] = {
        (m, r): h for m, r, h in snapshot.model_hashes
    }
    for hk, rec in list(contest.miners.items()):
        h = known.get((rec.model, rec.revision))
        if h is not None and rec.model_hash is None:
            contest.trigger_event(contest.ModelHashRecorded, hotkey=hk, model_hash=h)
    for copy, original in copies(contest.miners.values()):
        invalidate(contest, copy, f"copy_of:{original}", snapshot.block, None)
