"""The work each side of the contest is owed: which (miner, env, task) evaluations to run next."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from throne.domain.contest.config import ContestConfig
from throne.domain.contest.samples import SideScores
from throne.domain.contest.state import Pool


@attrs.frozen
class WorkItem:
    """One evaluation the contest wants: this miner on this task of this pool. ``attempt``
    counts the infrastructure failures of this task so far."""

    pool: int
    env: str
    task_id: int
    hotkey: str
    revision: str
    attempt: int = 0


def owed_work(
    pool: Pool,
    config: ContestConfig,
    champion: SideScores | None,
    challenger: SideScores | None,
    *,
    paused: bool = False,
) -> list[WorkItem]:
    """The tasks each side has not scored yet: the champion its whole pool; the challenger, in
    scoring envs, only the tasks the champion has scored (the verdict compares no others), and
    in envs that do not vote its whole pool. A task that failed on our side is owed again.
    A contest its operator paused owes nothing."""
    work: list[WorkItem] = []
    if paused:
        return work
    if champion is not None:
        work += _unscored(pool.pool, champion, pool.task_ids)
    if challenger is not None:
        scoring = {e.name for e in config.scoring_envs}
        scored = {} if champion is None else champion.scores
        wanted = {
            env: [t for t in ids if env not in scoring or t in scored.get(env, {})]
            for env, ids in pool.task_ids.items()
        }
        work += _unscored(pool.pool, challenger, wanted)
    return work


def _unscored(pool: int, side: SideScores, task_ids: Mapping[str, Sequence[int]]) -> list[WorkItem]:
    out = []
    for env, ids in task_ids.items():
        done = side.scores.get(env, {})
        failed = side.failures.get(env, {})
        for t in ids:
            if t not in done:
                out.append(WorkItem(pool, env, t, side.hotkey, side.revision, failed.get(t, 0)))
    return out
