"""Verify a large export on several cores: one process per span of checkpoints.

A checkpoint signs the running head of the hash chain, the number of events so far, the last
notification id and (from format version 3) its own number, so a verification can pick up right
after any checkpoint. The export is cut at
checkpoints into spans of about equal size; this process verifies the first span with the replay
while other processes verify the rest, each from the state its opening checkpoint names.

Each span is verified in full (parsing, hash chain, checkpoint signatures, id order, version
order within the span, sample payloads), and its samples are reduced to per-scorecard results
split at every other event, so the replay here sees every sample before the events that follow
it and none after. Seeds its checkpoints reveal come back with their place among those events.
Then the spans are stitched: each span's closing checkpoint is the next one's opening, each
originator's versions continue from one span into the next, and the other events and the reveals
are replayed in log order.

A valid export gives the same summaries as a verification in one pass. At the first fault of any
kind the export is verified again in one pass, so a failure is explained exactly as that pass
explains it (the first mismatch in log order, with its line).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from throne.audit.format import AuditError, ExportedEvent
from throne.audit.reading import GZIP_MAGIC, STDIN, Progress, open_export, read_lines
from throne.audit.records import Checkpoint, Header
from throne.audit.replay import (
    SAMPLE_TOPIC,
    ContestReplay,
    ReplaySummary,
    ResultsByKey,
    SampleResults,
    replay_mapper,
)
from throne.audit.verify import ChainSummary, ChainVerifier, EventOrder, verify_export

# Below this size a second process costs more than it saves.
MIN_PARALLEL_BYTES = 32 << 20
# At most this many processes, whatever the machine has: the merge is serial.
MAX_JOBS = 8
_CHECKPOINT_START = b'\n{"checkpoint":'


def default_jobs() -> int:
    """Processes a verification uses by default: the cores this process may run on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_JOBS))


def audit_export(
    path: Path,
    *,
    expected_signer: str | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> tuple[ChainSummary, ReplaySummary]:
    """Verify the export at ``path`` and replay the contest it holds; raise :class:`AuditError`
    at the first fault. Uses up to ``jobs`` processes (default :func:`default_jobs`) when the
    export is a plain file large enough to gain from them."""
    jobs = default_jobs() if jobs is None else jobs
    if jobs > 1 and _splittable(path):
        try:
            spans = plan_spans(path, jobs)
            if len(spans) > 1:
                return _audit_spans(path, spans, expected_signer, progress)
        except AuditError:
            pass  # verified again below, in one pass, to name the first fault exactly
    return _audit_in_one_pass(path, expected_signer, progress)


def _audit_in_one_pass(
    path: Path, expected_signer: str | None, progress: Progress | None = None
) -> tuple[ChainSummary, ReplaySummary]:
    replay = ContestReplay(replay_mapper())
    chain = verify_export(
        path,
        expected_signer=expected_signer,
        on_event=replay,
        on_reveal=replay.reveal,
        progress=progress,
    )
    return chain, replay.finish()


def _splittable(path: Path) -> bool:
    if path == STDIN:
        return False  # a pipe cannot be cut
    try:
        with path.open("rb") as probe:
            compressed = probe.read(2) == GZIP_MAGIC
        return not compressed and path.stat().st_size >= MIN_PARALLEL_BYTES
    except OSError:
        return False  # the one pass reports it


# ---- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Bytes ``start``..``end`` of an export: whole lines, ending with a checkpoint (or at the
    end of the file), and starting at the header or right after the checkpoint ``opening``
    (whose state the span is verified from)."""

    start: int
    end: int
    opening: Checkpoint | None = None


def plan_spans(path: Path, jobs: int) -> list[Span]:
    """Cut the export at the first checkpoint after each ``jobs``-th of its size."""
    version = read_header(path).version
    size = path.stat().st_size
    spans: list[Span] = []
    start, opening = 0, None
    with path.open("rb") as f:
        for k in range(1, jobs):
            target = size * k // jobs
            if target <= start:
                continue
            found = _next_checkpoint(f, target, version)
            if found is None:
                break
            end, next_opening = found
            spans.append(Span(start, end, opening))
            start, opening = end, next_opening
    spans.append(Span(start, size, opening))
    return spans


def _next_checkpoint(f: BinaryIO, offset: int, version: int) -> tuple[int, Checkpoint] | None:
    """(end of the line, its state) of the first checkpoint line starting after ``offset``."""
    f.seek(offset)
    buffer = b""
    base = offset
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            return None
        buffer += chunk
        at = buffer.find(_CHECKPOINT_START)
        if at >= 0:
            line_end = buffer.find(b"\n", at + 1)
            while line_end < 0:
                more = f.read(1 << 20)
                if not more:
                    return None
                buffer += more
                line_end = buffer.find(b"\n", at + 1)
            opening = _opening(buffer[at + 1 : line_end], version)
            return None if opening is None else (base + line_end + 1, opening)
        keep = len(_CHECKPOINT_START) - 1
        base += len(buffer) - keep
        buffer = buffer[-keep:]


def _opening(line: bytes, version: int) -> Checkpoint | None:
    try:
        checkpoint = Checkpoint.parse(orjson.loads(line)["checkpoint"], version)
    except (ValueError, TypeError, KeyError, AuditError):
        return None  # a malformed checkpoint: the span before it reports it
    return checkpoint if len(checkpoint.head) == 32 else None


@contextmanager
def span_lines(
    path: Path, span: Span, after_batch: Callable[[int], None] | None = None
) -> Iterator[Iterator[bytes]]:
    """The raw lines of ``span``; ``after_batch`` gets the bytes of it read so far."""
    with path.open("rb") as f:
        f.seek(span.start)
        report = None if after_batch is None else (lambda: after_batch(f.tell() - span.start))
        yield read_lines(f, span.end - span.start, report)


# ---- one span -----------------------------------------------------------------------------------


class SpanOrder(EventOrder):
    """Event order within a span: an originator first seen here may start past version 1 (its
    earlier versions are in earlier spans); which version it started at is kept for stitching."""

    def __init__(self) -> None:
        super().__init__()
        self.first_versions: dict[str, int] = {}

    def check(self, event: ExportedEvent, *, line: int | None = None) -> None:
        originator = event.originator
        if (
            originator not in self.versions
            and event.version > 1
            and (self.last_id is None or event.id > self.last_id)
        ):
            self.first_versions[originator] = event.version
            self.versions[originator] = event.version
            self.last_id = event.id
            return
        super().check(event, line=line)


class SpanCollector:
    """Collects a span's events for the replay: samples reduced between the other events, and
    revealed seeds with their place among those events."""

    def __init__(self) -> None:
        self.events: list[ExportedEvent] = []
        # batches[i] holds the samples before events[i]; the last one those after them all
        self.batches: list[ResultsByKey] = []
        self.counts: list[int] = []
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
        self._current = SampleResults()
        self._add = self._current.add

    def finish(self) -> None:
        self._close_batch()


@dataclass
class SpanResult:
    chain: ChainSummary
    versions: dict[str, int]
    first_versions: dict[str, int]
    events: list[ExportedEvent] = field(default_factory=list)
    batches: list[ResultsByKey] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    reveals: list[tuple[int, int, str]] = field(default_factory=list)


def verify_span(path: Path, span: Span, header: Header, last: bool) -> SpanResult | None:
    """Verify one span after the first (in a worker process); ``None`` at any fault."""
    assert span.opening is not None
    order = SpanOrder()
    collector = SpanCollector()
    verifier = ChainVerifier.resume(
        header,
        span.opening,
        on_event=collector,
        on_reveal=collector.reveal,
        order=order,
    )
    try:
        with span_lines(path, span) as lines:
            verifier.check(lines)
        if last:
            verifier.finish()
        elif not verifier.at_checkpoint:
            return None
    except (AuditError, OSError):
        return None  # the one pass names it
    collector.finish()
    return SpanResult(
        verifier.summary,
        order.versions,
        order.first_versions,
        collector.events,
        collector.batches,
        collector.counts,
        collector.reveals,
    )


# ---- all spans ----------------------------------------------------------------------------------


def read_header(path: Path) -> Header:
    """The header of the export at ``path``: the spans after the first do not read it."""
    with open_export(path) as f:
        first = f.readline()
    try:
        record = orjson.loads(first)
    except ValueError:
        raise AuditError("not-an-export", "no readable header") from None
    return Header.parse(record, line=1)


def _audit_spans(
    path: Path, spans: list[Span], expected_signer: str | None, progress: Progress | None = None
) -> tuple[ChainSummary, ReplaySummary]:
    """Verify ``spans[0]`` here and the others in worker processes, then stitch them.

    Progress is that of the first span, scaled to the whole: the spans are about equal."""
    header = read_header(path)
    context = (
        multiprocessing.get_context("fork")
        if "fork" in multiprocessing.get_all_start_methods()
        else None
    )
    with ProcessPoolExecutor(max_workers=len(spans) - 1, mp_context=context) as pool:
        futures = [
            pool.submit(verify_span, path, span, header, i == len(spans) - 1)
            for i, span in enumerate(spans)
            if i > 0
        ]
        replay = ContestReplay(replay_mapper())
        first = spans[0]
        verifier = ChainVerifier(
            expected_signer=expected_signer, on_event=replay, on_reveal=replay.reveal
        )
        total, share = spans[-1].end, first.end - first.start
        report = None if progress is None else (lambda done: progress(done * total // share, total))
        try:
            with span_lines(path, first, report) as lines:
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
    chain = verifier.summary
    versions = dict(verifier.versions)
    for result in results:
        if result is None:
            raise AuditError("corrupt", "a span failed its verification")
        _stitch_versions(versions, result)
        reveals_at: dict[int, list[tuple[int, str]]] = {}
        for place, pool_id, seed in result.reveals:
            reveals_at.setdefault(place, []).append((pool_id, seed))
        for i, event in enumerate(result.events):
            for pool_id, seed in reveals_at.get(i, ()):
                replay.reveal(pool_id, seed)
            replay.add_samples(result.batches[i], result.counts[i])
            replay(event)
        replay.add_samples(result.batches[-1], result.counts[-1])
        for pool_id, seed in reveals_at.get(len(result.events), ()):
            replay.reveal(pool_id, seed)
        part = result.chain
        chain.events = part.events
        chain.checkpoints += part.checkpoints
        chain.last_id = part.last_id
        chain.head = part.head
        chain.end_signed, chain.block = part.end_signed, part.block
        if chain.first_id is None:
            chain.first_id = part.first_id
        for topic, count in part.topics.items():
            chain.topics[topic] = chain.topics.get(topic, 0) + count
    return chain, replay.finish()


def _stitch_versions(versions: dict[str, int], span: SpanResult) -> None:
    """Each originator's versions must go on from where the spans before left them."""
    for originator, last in span.versions.items():
        first = span.first_versions.get(originator, 1)
        if first != versions.get(originator, 0) + 1:
            raise AuditError("corrupt", f"versions of {originator} do not continue across spans")
        versions[originator] = last
