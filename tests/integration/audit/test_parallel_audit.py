"""A verification spread over processes, span by span, must find exactly what one pass finds."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.contest import small_config
from tests.support.forgery import Events, forge
from tests.support.played import play_first_pool, played_database, retire_first_pool, set_weights
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.audit import spans as audit_spans
from throne.audit.format import AuditError, canonical_json
from throne.audit.log_export import append_database, export_database
from throne.audit.order import stitch_versions
from throne.audit.signing import keypair_from_text
from throne.audit.sources import ExportFile
from throne.audit.spans import Span
from throne.audit.verification import verify

VALIDATOR = keypair_from_text("//Alice")
EVERY = 3  # a checkpoint every three events: many places to cut a small log


@pytest.fixture(autouse=True)
def split_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_spans, "MIN_PARALLEL_BYTES", 0)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("played")
    db = played_database(tmp / "log.db")
    out = tmp / "audit.jsonl"
    export_database(db, out, VALIDATOR, checkpoint_every=EVERY)
    return out


@pytest.fixture
def export(played: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "audit.jsonl"
    copy.write_bytes(played.read_bytes())
    return copy


def outcome(path: Path, jobs: int) -> tuple[str, Any]:
    """What a verification concludes: both summaries, or the error's kind and message."""
    try:
        report = verify(ExportFile(path), expected_signer=VALIDATOR.ss58_address, jobs=jobs)
    except AuditError as exc:
        return "failed", (exc.kind, str(exc))
    assert report.export is not None
    return "ok", (dataclasses.asdict(report.export), dataclasses.asdict(report.replay))


def plan_spans(path: Path, jobs: int) -> list[Span]:
    return audit_spans.plan_spans(ExportFile(path), jobs)


def spans_alone_fail(path: Path, jobs: int) -> bool:
    """Whether the spans, verified apart and stitched, find a fault without the one pass (a
    file whose checkpoints cannot be read under its header is not cut: one pass it is)."""
    try:
        spans = plan_spans(path, jobs)
        if len(spans) == 1:
            verify(ExportFile(path), expected_signer=VALIDATOR.ss58_address, jobs=1)
        else:
            audit_spans.verify_in_spans(ExportFile(path), spans, VALIDATOR.ss58_address)
    except AuditError:
        return True
    return False


def test_spans_cover_the_file_and_each_opens_where_a_checkpoint_closed(export: Path) -> None:
    spans = plan_spans(export, 4)
    assert len(spans) == 4
    assert spans[0].start == 0 and spans[0].opening is None
    assert spans[-1].end == export.stat().st_size
    data = export.read_bytes()
    for before, after in itertools.pairwise(spans):
        assert before.end == after.start
        closing = json.loads(data[before.start : before.end].splitlines()[-1])["checkpoint"]
        assert after.opening is not None
        assert (closing["events"], closing["head"], closing["id"]) == (
            after.opening.events,
            after.opening.head.hex(),
            after.opening.last_id,
        )


@pytest.mark.parametrize("jobs", [2, 3, 5, 40])
def test_an_untouched_export_gives_the_same_summaries_in_spans(export: Path, jobs: int) -> None:
    assert len(plan_spans(export, jobs)) > 1
    assert not spans_alone_fail(export, jobs)
    one_pass = outcome(export, jobs=1)
    assert one_pass[0] == "ok"
    assert outcome(export, jobs=jobs) == one_pass
    chain, replay = one_pass[1]
    assert replay["verdicts_checked"] == 2 and replay["weights_checked"] == 3
    assert chain["events"] == replay["events"] == 49


def test_a_compressed_or_small_export_is_verified_in_one_pass(
    export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_spans(*_: Any) -> list[Span]:
        raise AssertionError("planned spans")

    monkeypatch.setattr(audit_spans, "plan_spans", no_spans)
    gz = export.with_suffix(".jsonl.gz")
    import gzip

    gz.write_bytes(gzip.compress(export.read_bytes()))
    assert outcome(gz, jobs=4)[0] == "ok"
    monkeypatch.setattr(audit_spans, "MIN_PARALLEL_BYTES", export.stat().st_size + 1)
    assert outcome(export, jobs=4)[0] == "ok"


def edit_lines(path: Path, edit: Callable[[list[bytes]], None]) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    edit(lines)
    path.write_bytes(b"".join(lines))


def event_lines(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith(b'{"id":')]


def flip_score(lines: list[bytes]) -> None:
    i = next(
        i for i, line in enumerate(lines) if b'"hotkey":"strong"' in line and b'"score":1.0' in line
    )
    lines[i] = lines[i].replace(b'"score":1.0', b'"score":0.0')


def delete_event(k: int) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        del lines[event_lines(lines)[k]]

    return edit


def swap_events(k: int) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        i, j = event_lines(lines)[k : k + 2]
        lines[i], lines[j] = lines[j], lines[i]

    return edit


def repeat_event(k: int) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        i = event_lines(lines)[k]
        lines.insert(i + 1, lines[i])

    return edit


def drop_end(lines: list[bytes]) -> None:
    del lines[-1]


def truncate(lines: list[bytes]) -> None:
    lines[-2] = lines[-2][:20]
    del lines[-1]


def checkpoint_lines(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith(b'{"checkpoint":')]


def record_of(line: bytes) -> Any:
    return json.loads(line)


def line_of(record: Any) -> bytes:
    return canonical_json(record) + b"\n"


def cut_with_new_end(k: int) -> Callable[[list[bytes]], None]:
    """Cut after checkpoint ``k`` and end there, as version 1 ended (unsigned)."""

    def edit(lines: list[bytes]) -> None:
        i = checkpoint_lines(lines)[k]
        cp = record_of(lines[i])["checkpoint"]
        lines[i + 1 :] = [line_of({"end": {"events": cp["events"], "head": cp["head"]}})]

    return edit


def cut_with_forged_end(k: int) -> Callable[[list[bytes]], None]:
    """Cut after checkpoint ``k`` and end with the genuine end record made to say so."""

    def edit(lines: list[bytes]) -> None:
        i = checkpoint_lines(lines)[k]
        cp = record_of(lines[i])["checkpoint"]
        end = record_of(lines[-1])
        end["end"].update(events=cp["events"], head=cp["head"], id=cp["id"], checkpoints=cp["seq"])
        lines[i + 1 :] = [line_of(end)]

    return edit


def header_changed(field: str, value: Any) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        header = record_of(lines[0])
        header[field] = value
        lines[0] = line_of(header)

    return edit


def delete_checkpoint(k: int) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        del lines[checkpoint_lines(lines)[k]]

    return edit


def swap_with_checkpoint(k: int, step: int) -> Callable[[list[bytes]], None]:
    """Swap checkpoint ``k`` with the event before it (``step`` -1) or after it (+1)."""

    def edit(lines: list[bytes]) -> None:
        i = checkpoint_lines(lines)[k]
        lines[i], lines[i + step] = lines[i + step], lines[i]

    return edit


def flip_originator(k: int) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        i = event_lines(lines)[k]
        originator = record_of(lines[i])["originator"].encode()
        flipped = originator[:-1] + (b"0" if originator[-1:] != b"0" else b"1")
        lines[i] = lines[i].replace(originator, flipped)

    return edit


def shift_id(k: int, by: int) -> Callable[[list[bytes]], None]:
    def edit(lines: list[bytes]) -> None:
        i = event_lines(lines)[k]
        event_id = record_of(lines[i])["id"]
        lines[i] = lines[i].replace(b'{"id":%d,' % event_id, b'{"id":%d,' % (event_id + by))

    return edit


TAMPERS = {
    "score flipped": flip_score,
    **{f"event {k} deleted": delete_event(k) for k in (0, 17, 30, 48)},
    **{f"events {k}, {k + 1} swapped": swap_events(k) for k in (5, 24, 44)},
    **{f"event {k} repeated": repeat_event(k) for k in (12, 36)},
    "end record dropped": drop_end,
    "cut mid-line": truncate,
    **{f"cut after checkpoint {k}, new end": cut_with_new_end(k) for k in (0, 6, 12)},
    **{f"cut after checkpoint {k}, forged end": cut_with_forged_end(k) for k in (0, 6, 12)},
    "header application changed": header_changed("application", "other"),
    "header interval changed": header_changed("checkpoint_every", 4),
    "header version lowered": header_changed("version", 2),
    **{f"checkpoint {k} deleted": delete_checkpoint(k) for k in (0, 5, 9, -1)},
    **{f"checkpoint {k} swapped back": swap_with_checkpoint(k, -1) for k in (1, 8)},
    **{f"checkpoint {k} swapped on": swap_with_checkpoint(k, 1) for k in (1, 8)},
    **{f"event {k} originator flipped": flip_originator(k) for k in (3, 33)},
    **{f"event {k} id shifted": shift_id(k, 1) for k in (10, 40)},
}

#: What each tampering must be named, in spans as in one pass.
NAMED = {
    "score flipped": "altered",
    "event 0 deleted": "deleted",
    "event 17 deleted": "deleted",
    "event 30 deleted": "deleted",
    "event 48 deleted": "deleted",
    "events 5, 6 swapped": "reordered",
    "events 24, 25 swapped": "reordered",
    "events 44, 45 swapped": "reordered",
    "event 12 repeated": "inserted",
    "event 36 repeated": "inserted",
    "end record dropped": "truncated",
    "cut mid-line": "truncated",
    **{f"cut after checkpoint {k}, new end": "unsigned" for k in (0, 6, 12)},
    **{f"cut after checkpoint {k}, forged end": "bad-signature" for k in (0, 6, 12)},
    "header application changed": "altered",
    "header interval changed": "altered",
    "header version lowered": "altered",
    **{f"checkpoint {k} deleted": "deleted" for k in (0, 5, 9, -1)},
    **{f"checkpoint {k} swapped back": "reordered" for k in (1, 8)},
    **{f"checkpoint {k} swapped on": "reordered" for k in (1, 8)},
    **{f"event {k} originator flipped": "altered" for k in (3, 33)},
    **{f"event {k} id shifted": "altered" for k in (10, 40)},
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
@pytest.mark.parametrize("jobs", [2, 4])
def test_a_tampered_export_fails_in_spans_as_in_one_pass(
    export: Path, name: str, jobs: int
) -> None:
    edit_lines(export, TAMPERS[name])
    one_pass = outcome(export, jobs=1)
    assert one_pass[0] == "failed" and one_pass[1][0] == NAMED[name], one_pass
    assert outcome(export, jobs=jobs) == one_pass
    assert spans_alone_fail(export, jobs)


def resigned(path: Path, drop: int) -> Path:
    """The export re-signed by the validator after leaving event ``drop`` out: a history
    rewritten by the key holder, which only the order of versions and the replay can betray."""
    out = path.with_name(f"forged-{drop}.jsonl")
    return forge(path, out, VALIDATOR, lambda e: e[:drop] + e[drop + 1 :], checkpoint_every=EVERY)


@pytest.mark.parametrize("jobs", [2, 3, 7])
def test_every_event_left_out_and_resigned_is_judged_as_one_pass_judges_it(
    played: Path, jobs: int
) -> None:
    failed = 0
    for drop in range(49):
        forged = resigned(played, drop)
        one_pass = outcome(forged, jobs=1)
        assert outcome(forged, jobs=jobs) == one_pass, f"event {drop}"
        assert spans_alone_fail(forged, jobs) == (one_pass[0] == "failed"), f"event {drop}"
        failed += one_pass[0] == "failed"
    # Most such forgeries leave a gap in some stream's versions, whichever span it falls in.
    assert failed > 49 // 2


def test_a_version_gap_between_spans_is_found_by_stitching() -> None:
    versions = {"a": 3, "b": 1}
    stitch_versions(versions, {"a": 6, "c": 2}, {"a": 4})
    assert versions == {"a": 6, "b": 1, "c": 2}
    for later in ({"a": 8}, {"a": 6}):
        with pytest.raises(AuditError):
            stitch_versions(dict(versions), later, later)
    with pytest.raises(AuditError):  # "b" starting again at 1 is an inserted stream
        stitch_versions(dict(versions), {"b": 1}, {})


def test_a_verdict_moved_before_samples_it_names_is_caught_in_spans(
    played: Path, tmp_path: Path
) -> None:
    # The validator re-signs a log in which its Dethroned comes before the last sample it
    # claims to have read: each span must hand the replay its samples in their place.
    def move_it(events: Events) -> Events:
        d = next(i for i, r in enumerate(events) if r["topic"] == "throne:Contest.Dethroned")
        assert events[d - 1]["topic"] == "throne:Scorecard.SampleScored"
        events[d - 1], events[d] = events[d], events[d - 1]
        return [{**r, "id": new_id} for new_id, r in enumerate(events, start=1)]

    forged = forge(played, tmp_path / "moved.jsonl", VALIDATOR, move_it, checkpoint_every=EVERY)
    one_pass = outcome(forged, jobs=1)
    assert one_pass[0] == "failed" and one_pass[1][0] == "verdict-mismatch"
    spans = plan_spans(forged, 7)
    at = forged.read_bytes().index(b'"topic":"throne:Contest.Dethroned"')
    assert at > spans[0].end  # in a span verified by another process
    assert outcome(forged, jobs=7) == one_pass
    assert spans_alone_fail(forged, 7)


@pytest.fixture(scope="module")
def appended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export written while pool 1 was current, then appended to twice: each append's final
    checkpoint reveals a pool retired since, the first one with events after it."""
    tmp = tmp_path_factory.mktemp("appended")
    db = parse_database_url(str(tmp / "log.db"))
    app = ThroneApplication(small_config(burn=0.25), env=db.eventsourcing_env())
    driver = play_first_pool(app)
    out = tmp / "audit.jsonl"
    export_database(db, out, VALIDATOR, checkpoint_every=EVERY)
    retire_first_pool(driver)
    assert len(append_database(db, out, VALIDATOR).revealed) == 1
    assert driver.tick(240) == ["pool_refreshed"]
    set_weights(app, 240)
    assert len(append_database(db, out, VALIDATOR).revealed) == 1
    app.close()
    return out


@pytest.mark.parametrize("jobs", [2, 3, 5, 40])
def test_an_appended_export_gives_the_same_summaries_in_spans(
    appended: Path, tmp_path: Path, jobs: int
) -> None:
    assert len(plan_spans(appended, jobs)) > 1
    assert not spans_alone_fail(appended, jobs)
    one_pass = outcome(appended, jobs=1)
    assert one_pass[0] == "ok"
    assert outcome(appended, jobs=jobs) == one_pass
    chain, replay = one_pass[1]
    assert (replay["pools_checked"], replay["pools_unrevealed"]) == (2, 1)
    assert chain["format_version"] == 3 and replay["events"] == 51
    assert chain["end_signed"] and chain["block"] == 240
    # a reveal tampered with fails in spans as in one pass
    copy = tmp_path / "tampered.jsonl"
    copy.write_bytes(re.sub(rb'("reveals":\{"\d+":")[0-9a-f]+', rb"\g<1>00", appended.read_bytes()))
    one_pass = outcome(copy, jobs=1)
    assert one_pass[0] == "failed" and one_pass[1][0] == "pool-mismatch"
    assert outcome(copy, jobs=jobs) == one_pass
    assert spans_alone_fail(copy, jobs)


APPENDED_TAMPERS: dict[str, Callable[[list[bytes]], None]] = {
    "last checkpoint of the new part deleted": delete_checkpoint(-1),
    "a middle checkpoint of the new part deleted": delete_checkpoint(-3),
    "cut inside the new part, new end": cut_with_new_end(-3),
    "cut inside the new part, forged end": cut_with_forged_end(-3),
    "events swapped across the append": swap_events(47),
}


@pytest.mark.parametrize("name", sorted(APPENDED_TAMPERS))
@pytest.mark.parametrize("jobs", [2, 5])
def test_a_tampered_appended_export_fails_in_spans_as_in_one_pass(
    appended: Path, tmp_path: Path, name: str, jobs: int
) -> None:
    copy = tmp_path / "tampered.jsonl"
    copy.write_bytes(appended.read_bytes())
    edit_lines(copy, APPENDED_TAMPERS[name])
    one_pass = outcome(copy, jobs=1)
    assert one_pass[0] == "failed"
    assert outcome(copy, jobs=jobs) == one_pass
    assert spans_alone_fail(copy, jobs)
