"""Verify what a validator published: ``verify(source, ...) -> AuditReport``.

The source is an export (a file, compressed or not, or standard input) or a database's log
(:mod:`throne.audit.sources`). An export is read through the verifier (records, links,
signatures, order) into the contest's replay, in one pass or, when it is a large plain file, in
spans on several processes (:mod:`throne.audit.spans`). A database is replayed in place: it
holds no signed checkpoints, but the responses to re-score. Either way the validator's weights
on chain can be checked last, against the log's last submission that landed.

Every check raises :class:`~throne.audit.format.AuditError` at the first fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING

from throne.audit import spans
from throne.audit.append import journal_path
from throne.audit.format import AuditError
from throne.audit.onchain import OnchainQuery, onchain_check
from throne.audit.order import EventOrder
from throne.audit.reader import Progress, export_lines
from throne.audit.replay import ContestReplay, ReplaySummary, replay_mapper
from throne.audit.report import AuditReport, ExportSummary
from throne.audit.sources import AuditSource, DatabaseLog, ExportFile, ExportSource
from throne.audit.stored import exported, iter_notifications, opened_log, reporting
from throne.audit.verifier import ExportVerifier, OnEvent, OnReveal

if TYPE_CHECKING:
    from throne.envs.base import Environment


class Stage(Enum):
    """What a verification is doing, as it tells its progress."""

    #: reading an export: (bytes of the file read, bytes in the file)
    EXPORT = "export"
    #: replaying a database's log: (notification id reached, last id in the log)
    LOG = "log"
    #: re-scoring its responses: (notification id reached, last id in the log)
    RESCORE = "rescore"


#: Told (stage, done, total) now and then.
StageProgress = Callable[[Stage, int, int], None]


@dataclass(frozen=True)
class Rescoring:
    """Re-run every stored response through its environment, on ``jobs`` threads."""

    environments: Mapping[str, Environment]
    jobs: int = 4


def verify(
    source: AuditSource,
    *,
    expected_signer: str | None = None,
    jobs: int | None = None,
    rescore: Rescoring | None = None,
    onchain: OnchainQuery | None = None,
    progress: StageProgress | None = None,
) -> AuditReport:
    """Verify ``source`` and recompute everything its log decided; raise ``AuditError`` at the
    first fault.

    ``expected_signer`` pins whose signatures an export must carry (a database has none).
    ``jobs`` caps the processes of an export's verification (default: the cores available,
    at most :data:`~throne.audit.spans.MAX_JOBS`). ``rescore`` re-scores a database's stored
    responses; ``onchain`` reads the validator's weights from the chain.
    """
    rescored = None
    if isinstance(source, DatabaseLog):
        export = None
        replay = _replay_log(source, _told(progress, Stage.LOG))
        if rescore is not None:
            from throne.audit.rescore import rescore_database

            rescored = rescore_database(
                source.db,
                rescore.environments,
                jobs=rescore.jobs,
                progress=_told(progress, Stage.RESCORE),
            )
    else:
        if rescore is not None:
            raise ValueError("responses are kept in the log's database, not in an export")
        export, replay = _verify_export(
            source, expected_signer, jobs, _told(progress, Stage.EXPORT)
        )
    check = None
    if onchain is not None:
        check = onchain_check(onchain, replay, export.signer if export is not None else None)
    pinned = expected_signer is not None
    return AuditReport(source.display, export, replay, rescored, check, signer_pinned=pinned)


def check_export(
    source: ExportSource,
    *,
    expected_signer: str | None = None,
    on_event: OnEvent | None = None,
    on_reveal: OnReveal | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Read the export through the verifier in one pass, handing each event to ``on_event``
    and each revealed seed to ``on_reveal``; raise :class:`AuditError` at the first fault."""
    verifier = ExportVerifier(
        expected_signer=expected_signer, on_event=on_event, on_reveal=on_reveal
    )
    with export_lines(source, lambda: verifier.lines_read, progress) as lines:
        return verifier.run(lines)


def _verify_export(
    source: ExportSource, expected_signer: str | None, jobs: int | None, progress: Progress | None
) -> tuple[ExportSummary, ReplaySummary]:
    jobs = spans.default_jobs() if jobs is None else jobs
    if jobs > 1 and isinstance(source, ExportFile):
        try:
            if spans.worth_splitting(source):
                planned = spans.plan_spans(source, jobs)
                if len(planned) > 1:
                    return spans.verify_in_spans(source, planned, expected_signer, progress)
        except AuditError:
            pass  # verified again below, in one pass, to name the first fault exactly
    replay = ContestReplay(replay_mapper())
    try:
        summary = check_export(
            source,
            expected_signer=expected_signer,
            on_event=replay,
            on_reveal=replay.reveal,
            progress=progress,
        )
    except AuditError as exc:
        told = _with_interrupted_append(exc, source)
        if told is exc:
            raise
        raise told from exc
    return summary, replay.finish()


def _with_interrupted_append(exc: AuditError, source: ExportSource) -> AuditError:
    """A file cut short by an append that was killed says so, and how to put it back."""
    if (
        exc.kind != "truncated"
        or not isinstance(source, ExportFile)
        or not journal_path(source.path).exists()
    ):
        return exc
    told = AuditError(
        exc.kind,
        f"{exc}; an append to it was interrupted: `throne audit export --append` puts it back",
    )
    told.line = exc.line
    return told


def _replay_log(source: DatabaseLog, progress: Progress | None) -> ReplaySummary:
    """Replay a database's log as it stands now (a daemon may keep appending while it is
    read), in the order an export would hold it, never writing."""
    replay = ContestReplay(replay_mapper())
    order = EventOrder()
    with opened_log(source.db.readonly()) as recorder:
        last = recorder.max_notification_id() or 0
        notifications = iter_notifications(recorder, stop=last)
        if progress is not None:
            notifications = reporting(notifications, progress, last)
        for n in notifications:
            event = exported(n)
            order.check(event)
            replay(event)
    return replay.finish()


def _told(progress: StageProgress | None, stage: Stage) -> Progress | None:
    return None if progress is None else partial(progress, stage)
