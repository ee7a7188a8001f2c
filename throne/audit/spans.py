"""Verify a large export on several cores: one process per span of checkpoints.

A checkpoint signs where the links stand (the running head, the number of events so far, the
last notification id and, from format version 3, its own number), so a verification can pick up
right after any checkpoint. The export is cut at checkpoints into spans of about equal size;
this process verifies the first span with the replay while other processes verify the rest,
each from the state its opening checkpoint names.

Each span is verified in full (parsing, links, checkpoint signatures, id order, version order
within the span, sample payloads), and its samples are reduced to per-scorecard results split at
every other event, so the replay here sees every sample before the events that follow it and
none after. Seeds its checkpoints reveal come back with their place among those events. Then
the spans are stitched: each span's closing checkpoint is the next one's opening, each
originator's versions continue from one span into the next, and the other events and the
reveals are replayed in log order.

A valid export gives the same summaries as a verification in one pass. At the first fault of any
kind the caller verifies it again in one pass, so that a failure is explained exactly as that
pass explains it (the first mismatch in log order, with its line).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from throne.audit.format import AuditError
from throne.audit.links import LinkState
from throne.audit.order import SpanOrder, stitch_versions
from throne.audit.reader import Progress, checkpoint_after, read_header, span_lines
from throne.audit.records import ExportedEvent, Header
from throne.audit.replay import (
    SAMPLE_TOPIC,
    ContestReplay,
    Reached,
    ReplaySummary,
    ResultsByKey,
    SampleResults,
    replay_mapper,
)
from throne.audit.report import ExportSummary
from throne.audit.sources import ExportFile
from throne.audit.verifier import ExportVerifier

# Below this size a second process costs more than it saves.
MIN_PARALLEL_BYTES = 32 << 20
# At most this many processes, whatever the machine has: the merge is serial.
MAX_JOBS = 8


def default_jobs() -> int:
    """Processes a verification uses by default: the cores this process may run on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_JOBS))


def worth_splitting(source: ExportFile) -> bool:
    """Whether the export is plain (a compressed stream cannot be cut) and large enough."""
    return not source.compressed() and source.size() >= MIN_PARALLEL_BYTES


# ---- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Bytes ``start``..``end`` of an export: whole lines, ending with a checkpoint (or at the
    end of the file), and starting at the header or right after a checkpoint, in the state
    ``opening`` that it signed (which the span is verified from)."""

    start: int
    end: int
    opening: LinkState | None = None


def plan_spans(source: ExportFile, jobs: int) -> list[Span]:
    """Cut the export at the first checkpoint after each ``jobs``-th of its size."""
    version = read_header(source)[0].version
    size = source.size()
    spans: list[Span] = []
    start, opening = 0, None
    with source.path.open("rb") as f:
        for k in range(1, jobs):
            target = size * k // jobs
            if target <= start:
                continue
            found = checkpoint_after(f, target, version)
            # A checkpoint whose head is no sha256 cannot be picked up from: the span before
            # it reports it.
            if found is None or len(found[1].head) != 32:
                break
            end, checkpoint = found
            spans.append(Span(start, end, opening))
            start, opening = end, checkpoint.state
    spans.append(Span(start, size, opening))
    return spans


# ---- one span -----------------------------------------------------------------------------------


class SpanCollector:
    """Collects a span's events for the replay: samples reduced between the other events, and
    revealed seeds with their place among those events."""

    def __init__(self) -> None:
        self.events: list[ExportedEvent] = []
        # batches[i] holds the samples before events[i]; the last one those after them all
        self.batches: list[ResultsByKey] = []
        self.counts: list[int] = []
        self.reached: list[Reached] = []
        # (i, pool id, seed): revealed after events[:i], before events[i]
        self.reveals: list[tuple[int, int, str]] = []
        self._current = SampleResults()
        self._add = self._current.add

    def __call__(self, event: ExportedEvent) -> None:
        if event.topic == SAMPLE_TOPIC:
            self._add(event)
            return
        self._close_batch()
        self.events.append(event)

    def reveal(self, pool_id: int, seed_hex: str) -> None:
        self.reveals.append((len(self.events), pool_id, seed_hex))

    def _close_batch(self) -> None:
        self.batches.append(self._current.by_key)
        self.counts.append(self._current.count)
        self.reached.append(self._current.reached)
        self._current = SampleResults()
        self._add = self._current.add

    def finish(self) -> None:
        self._close_batch()

    def replay_into(self, replay: ContestReplay) -> None:
        """Hand the span's events, samples and reveals to ``replay``, in log order."""
        reveals_at: dict[int, list[tuple[int, str]]] = {}
        for place, pool_id, seed in self.reveals:
            reveals_at.setdefault(place, []).append((pool_id, seed))
        for i, event in enumerate(self.events):
            for pool_id, seed in reveals_at.get(i, ()):
                replay.reveal(pool_id, seed)
            replay.add_samples(self.batches[i], self.counts[i], self.reached[i])
            replay(event)
        replay.add_samples(self.batches[-1], self.counts[-1], self.reached[-1])
        for pool_id, seed in reveals_at.get(len(self.events), ()):
            replay.reveal(pool_id, seed)


@dataclass
class SpanResult:
    """What a worker hands back of its span: its summary, each originator's first and last
    versions in it (to stitch), and its events for the replay."""

    summary: ExportSummary
    versions: dict[str, int]
    first_versions: dict[str, int]
    collected: SpanCollector


def verify_span(source: ExportFile, span: Span, header: Header, last: bool) -> SpanResult | None:
    """Verify one span after the first (in a worker process); ``None`` at any fault."""
    assert span.opening is not None
    order = SpanOrder()
    collector = SpanCollector()
    verifier = ExportVerifier.resume(
        header, span.opening, on_event=collector, on_reveal=collector.reveal, order=order
    )
    try:
        with span_lines(source, span.start, span.end) as lines:
            verifier.check(lines)
        if last:
            verifier.finish()
        elif not verifier.at_checkpoint:
            return None
    except (AuditError, OSError):
        return None  # the one pass names it
    collector.finish()
    return SpanResult(verifier.summary, order.versions, order.first_versions, collector)


# ---- all spans ----------------------------------------------------------------------------------


def verify_in_spans(
    source: ExportFile,
    spans: list[Span],
    expected_signer: str | None,
    progress: Progress | None = None,
) -> tuple[ExportSummary, ReplaySummary]:
    """Verify ``spans[0]`` here and the others in worker processes, then stitch them; raise
    :class:`AuditError` at any fault (which a pass over the whole export explains).

    Progress is that of the first span, scaled to the whole: the spans are about equal."""
    header = read_header(source)[0]
    context = (
        multiprocessing.get_context("fork")
        if "fork" in multiprocessing.get_all_start_methods()
        else None
    )
    with ProcessPoolExecutor(max_workers=len(spans) - 1, mp_context=context) as pool:
        futures = [
            pool.submit(verify_span, source, span, header, i == len(spans) - 1)
            for i, span in enumerate(spans)
            if i > 0
        ]
        replay = ContestReplay(replay_mapper())
        first = spans[0]
        verifier = ExportVerifier(
            expected_signer=expected_signer, on_event=replay, on_reveal=replay.reveal
        )
        total, share = spans[-1].end, first.end - first.start
        report = None if progress is None else (lambda done: progress(done * total // share, total))
        try:
            with span_lines(source, first.start, first.end, report) as lines:
                verifier.check(lines)
            if not verifier.at_checkpoint:
                raise AuditError("corrupt", "the first span does not end at a checkpoint")
            if verifier.header != header:
                raise AuditError("corrupt", "the header changed while it was read")
            results = [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    summary = verifier.summary
    versions = dict(verifier.versions)
    for result in results:
        if result is None:
            raise AuditError("corrupt", "a span failed its verification")
        stitch_versions(versions, result.versions, result.first_versions)
        result.collected.replay_into(replay)
        add_span(summary, result.summary)
    return summary, replay.finish()


def add_span(summary: ExportSummary, part: ExportSummary) -> None:
    """Take the summary of the span that comes next into ``summary``."""
    summary.events = part.events
    summary.checkpoints += part.checkpoints
    summary.last_id = part.last_id
    summary.head = part.head
    summary.end_signed, summary.block = part.end_signed, part.block
    if summary.first_id is None:
        summary.first_id = part.first_id
    for topic, count in part.topics.items():
        summary.topics[topic] = summary.topics.get(topic, 0) + count
