"""Which samples the contest admits (of the current pool, of a task in it, of a miner it
samples), and how a batch of them is recorded."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import attrs

from throne.domain.contest.samples import InvalidSample, Sample
from throne.domain.contest.scorecard import ConflictingSample, Scorecard
from throne.domain.contest.state import Pool


def rejection(
    sample: Sample, pool: Pool | None, sampled: Collection[tuple[str, str]]
) -> str | None:
    """Why the contest does not take ``sample``, or None when it does. ``sampled`` are the
    (hotkey, revision) pairs it samples now (`Contest.sampling`)."""
    current = None if pool is None else pool.pool
    if sample.pool != current:
        return f"not_current_pool:{sample.pool}!={current}"
    assert pool is not None
    if sample.task_id not in pool.ids(sample.env):
        return f"task_not_in_pool:{sample.env}#{sample.task_id}"
    if (sample.hotkey, sample.revision) not in sampled:
        return "miner_not_sampled"
    return None


@attrs.frozen
class RecordReport:
    """What became of a batch of samples."""

    accepted: int = 0
    duplicates: int = 0
    rejected: tuple[tuple[Sample, str], ...] = ()


def record_batch(
    samples: Iterable[Sample],
    pool: Pool | None,
    sampled: Collection[tuple[str, str]],
    cards: Mapping[tuple[str, str], Scorecard],
) -> RecordReport:
    """Record each admitted sample on its miner's scorecard of the current pool; ``cards``
    holds one, by (hotkey, revision), for every sampled miner the batch names. A sample the
    contest does not admit, or that its scorecard refuses, is rejected with the reason."""
    accepted = duplicates = 0
    rejected: list[tuple[Sample, str]] = []
    for s in samples:
        reason = rejection(s, pool, sampled)
        if reason is not None:
            rejected.append((s, reason))
            continue
        try:
            result = cards[(s.hotkey, s.revision)].record(s)
        except (ConflictingSample, InvalidSample) as exc:
            rejected.append((s, f"{type(exc).__name__}:{exc}"))
            continue
        if result == "accepted":
            accepted += 1
        else:
            duplicates += 1
    return RecordReport(accepted, duplicates, tuple(rejected))
