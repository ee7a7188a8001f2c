"""The audit export's hash chain and signatures, on a small generic log.

Each tampering an auditor could meet is made to a real export and must be found and named.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Notification

from tests.integration.audit.legacy import write_legacy_export
from throne.audit.format import FORMAT_VERSION, AuditError, canonical_json
from throne.audit.records import EndRecord, ExportedEvent
from throne.audit.report import ExportSummary
from throne.audit.signing import keypair_from_text
from throne.audit.sources import export_source
from throne.audit.verification import check_export
from throne.audit.writer import ExportWriter, export_notifications, write_notifications
from throne.ports.signer import Signer

VALIDATOR = keypair_from_text("//Alice")
INTRUDER = keypair_from_text("//Mallory")
ORIGINATORS = [f"00000000-0000-0000-0000-00000000000{i}" for i in range(3)]


def sample_log(n: int = 40) -> list[Notification]:
    """``n`` notifications over three originators, with gaps in the ids like PostgreSQL's."""
    out = []
    versions = dict.fromkeys(ORIGINATORS, 0)
    for i in range(n):
        originator = ORIGINATORS[i % 3]
        versions[originator] += 1
        topic = "test:WeightsSet" if i % 13 == 12 else "test:SampleScored"
        fields: dict[str, Any] = {"score": i / 7, "task_id": i, "miner": "5Abc"}
        if topic == "test:WeightsSet":
            fields["block"] = 100 + i  # the chain blocks a log names: the newest is 138
        state = json.dumps(fields).encode()
        out.append(
            Notification(
                id=i * 2 + 1,
                originator_id=originator,
                originator_version=versions[originator],
                topic=topic,
                state=state,
            )
        )
    return out


def is_weights(topic: str, _payload: Any) -> bool:
    return topic == "test:WeightsSet"


def write_export(path: Path, notifications: list[Notification], signer: Signer = VALIDATOR) -> int:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as out:
        return export_notifications(
            notifications,
            out,  # type: ignore[arg-type]
            signer,
            application="test",
            checkpoint_every=10,
            checkpoint_after=is_weights,
        )


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "log.jsonl"
    write_export(path, sample_log())
    return path


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def rewrite(path: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in edit(lines_of(path))))


def event_indexes(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith(b'{"id":')]


def verify_export(path: Path, **kwargs: Any) -> ExportSummary:
    return check_export(export_source(path), **kwargs)


def failure(path: Path, **kwargs: Any) -> AuditError:
    with pytest.raises(AuditError) as exc:
        verify_export(path, **kwargs)
    assert "\n" not in str(exc.value)
    return exc.value


@pytest.mark.parametrize("name", ["log.jsonl", "log.jsonl.gz"])
def test_an_untouched_export_verifies_and_hands_on_every_event(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_export(path, sample_log()) == 40
    seen: list[ExportedEvent] = []
    summary = verify_export(path, expected_signer=VALIDATOR.ss58_address, on_event=seen.append)
    assert summary.events == 40 and [e.id for e in seen] == [i * 2 + 1 for i in range(40)]
    assert summary.signer == VALIDATOR.ss58_address
    assert seen[0].payload == {"score": 0.0, "task_id": 0, "miner": "5Abc"}


def test_checkpoints_come_every_n_events_and_after_each_marked_event(export: Path) -> None:
    lines = lines_of(export)
    checkpoints = [
        json.loads(x)["checkpoint"]["events"] for x in lines if x.startswith(b'{"checkpoint"')
    ]
    # every 10 events, plus after the weight submissions at events 13, 26 and 39, plus the end
    assert checkpoints == [10, 13, 20, 26, 30, 39, 40]
    assert verify_export(export).checkpoints == 7


def test_every_line_is_canonical_json(export: Path) -> None:
    for line in lines_of(export):
        assert canonical_json(json.loads(line)) == line


def test_a_flipped_payload_byte_is_named_as_an_altered_event(export: Path) -> None:
    def flip(lines: list[bytes]) -> list[bytes]:
        i = event_indexes(lines)[4]
        lines[i] = lines[i].replace(b'"task_id":4', b'"task_id":5')
        return lines

    rewrite(export, flip)
    error = failure(export)
    assert error.kind == "altered" and "ids 1..19" in str(error)


def test_a_byte_flip_that_breaks_the_json_is_named_as_corrupt(export: Path) -> None:
    raw = bytearray(export.read_bytes())
    raw[raw.index(b'"score"') + 1] = 0xFF
    export.write_bytes(bytes(raw))
    assert failure(export).kind == "corrupt"


def test_a_deleted_event_is_named(export: Path) -> None:
    rewrite(export, lambda lines: [x for i, x in enumerate(lines) if i != event_indexes(lines)[3]])
    error = failure(export)
    assert error.kind == "deleted" and "version 2" in str(error)


def test_deleting_the_last_event_of_a_stream_is_still_found(export: Path) -> None:
    # event 38 (index 37) is the last one of its originator: no version gap betrays it
    rewrite(export, lambda lines: [x for i, x in enumerate(lines) if i != event_indexes(lines)[37]])
    assert failure(export).kind == "deleted"


def test_an_inserted_event_is_named(export: Path) -> None:
    def insert(lines: list[bytes]) -> list[bytes]:
        fake = {
            "id": 8,
            "originator": "00000000-0000-0000-0000-0000000000ff",
            "payload": {"score": 1.0},
            "topic": "test:SampleScored",
            "version": 1,
        }
        lines.insert(event_indexes(lines)[4], canonical_json(fake))
        return lines

    rewrite(export, insert)
    assert failure(export).kind == "inserted"


def test_a_replayed_event_of_an_existing_stream_is_named_as_inserted(export: Path) -> None:
    def replay(lines: list[bytes]) -> list[bytes]:
        copy = json.loads(lines[event_indexes(lines)[0]])
        copy["id"] = 4
        lines.insert(event_indexes(lines)[2], canonical_json(copy))
        return lines

    rewrite(export, replay)
    assert failure(export).kind == "inserted"


def test_two_swapped_events_are_named_as_reordered(export: Path) -> None:
    def swap(lines: list[bytes]) -> list[bytes]:
        a, b = event_indexes(lines)[5:7]
        lines[a], lines[b] = lines[b], lines[a]
        return lines

    rewrite(export, swap)
    assert failure(export).kind == "reordered"


def test_an_export_re_signed_with_another_key_is_named(tmp_path: Path) -> None:
    forged = tmp_path / "forged.jsonl"
    write_export(forged, sample_log(), signer=INTRUDER)
    verify_export(forged)  # consistent in itself...
    error = failure(forged, expected_signer=VALIDATOR.ss58_address)  # ...but not the validator's
    assert error.kind == "wrong-signer" and INTRUDER.ss58_address in str(error)


def test_one_checkpoint_re_signed_with_another_key_is_named(export: Path) -> None:
    def resign(lines: list[bytes]) -> list[bytes]:
        i = next(i for i, x in enumerate(lines) if x.startswith(b'{"checkpoint"'))
        cp = json.loads(lines[i])["checkpoint"]
        cp["signer"] = INTRUDER.ss58_address
        lines[i] = canonical_json({"checkpoint": cp})
        return lines

    rewrite(export, resign)
    assert failure(export).kind == "wrong-signer"


def test_an_altered_checkpoint_fails_its_signature(export: Path) -> None:
    def alter(lines: list[bytes]) -> list[bytes]:
        i = next(i for i, x in enumerate(lines) if x.startswith(b'{"checkpoint"'))
        cp = json.loads(lines[i])["checkpoint"]
        cp["head"] = "00" * 32
        lines[i] = canonical_json({"checkpoint": cp})
        return lines

    rewrite(export, alter)
    assert failure(export).kind == "bad-signature"


def test_an_export_cut_at_a_line_boundary_is_truncated(export: Path) -> None:
    rewrite(export, lambda lines: lines[:30])
    assert failure(export).kind == "truncated"


def test_an_export_cut_mid_line_is_truncated(export: Path) -> None:
    export.write_bytes(export.read_bytes()[:-7])
    assert failure(export).kind == "truncated"


def test_a_truncated_gzip_export_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl.gz"
    write_export(path, sample_log(400))
    path.write_bytes(path.read_bytes()[:-200])
    assert failure(path).kind == "truncated"


def test_events_after_the_last_checkpoint_are_unsigned(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    writer = ExportWriter(buffer, VALIDATOR, application="test", checkpoint_every=100)
    writer.write(ExportedEvent(1, ORIGINATORS[0], 1, "t", {}))
    buffer.write(b'{"end":{"events":1,"head":"x"}}\n')
    path = tmp_path / "unsigned.jsonl"
    path.write_bytes(buffer.getvalue())
    assert failure(path).kind == "unsigned"


def test_an_export_from_a_newer_version_is_refused(export: Path) -> None:
    def bump(lines: list[bytes]) -> list[bytes]:
        header = json.loads(lines[0])
        header["version"] = FORMAT_VERSION + 1
        return [canonical_json(header), *lines[1:]]

    rewrite(export, bump)
    error = failure(export)
    assert error.kind == "newer-format" and "upgrade throne" in str(error)


@pytest.mark.parametrize("content", [b"", b"hello\n", b"\x00\x01\x02 binary", b"[1,2]\n"])
def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "other.jsonl"
    path.write_bytes(content)
    assert failure(path).kind in ("not-an-export", "corrupt", "truncated")


def export_with_reveals(path: Path, reveals: dict[int, str], version: int) -> Path:
    """A small export whose final checkpoint carries ``reveals``, in format ``version``."""
    events = [(i, originator, 1, "t", {}) for i, originator in enumerate(ORIGINATORS, start=1)]
    if version < FORMAT_VERSION:
        return write_legacy_export(path, events, VALIDATOR, version=version, reveals=reveals)
    with path.open("wb") as out:
        writer = ExportWriter(out, VALIDATOR, application="test", checkpoint_every=100)
        for event in events:
            writer.write(ExportedEvent(*event))
        writer.close(reveals)
    return path


@pytest.mark.parametrize("version", [2, 3])
def test_reveals_reach_the_consumer_in_the_order_of_the_log(tmp_path: Path, version: int) -> None:
    path = export_with_reveals(tmp_path / "r.jsonl", {10: "0a", 9: "09", 100: "64"}, version)
    assert b'"reveals":{"10":"0a","100":"64","9":"09"}' in path.read_bytes()
    seen: list[tuple[int, str]] = []
    summary = verify_export(path, on_reveal=lambda id, seed: seen.append((id, seed)))
    assert seen == [(9, "09"), (10, "0a"), (100, "64")]
    assert summary.format_version == version and summary.checkpoints == 1


def test_reveals_in_a_version_1_export_are_corrupt(tmp_path: Path) -> None:
    error = failure(export_with_reveals(tmp_path / "r.jsonl", {3: "ab"}, version=1))
    assert error.kind == "corrupt" and "version-1" in str(error)


@pytest.mark.parametrize("reveals", [[1], {"x1": "ab"}, {"01": "ab"}, {"1": "xyz"}, {"1": 7}])
def test_a_malformed_reveal_is_corrupt(tmp_path: Path, reveals: Any) -> None:
    path = export_with_reveals(tmp_path / "r.jsonl", {1: "ab"}, version=FORMAT_VERSION)
    lines = lines_of(path)
    record = json.loads(lines[-2])
    record["checkpoint"]["reveals"] = reveals
    rewrite(path, lambda ls: [*ls[:-2], canonical_json(record), ls[-1]])
    assert failure(path).kind == "corrupt"


# ---- the end record --------------------------------------------------------------------------


def checkpoint_indexes(lines: list[bytes]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith(b'{"checkpoint"')]


def test_the_end_record_is_signed_and_names_the_newest_block_of_the_log(export: Path) -> None:
    end = json.loads(lines_of(export)[-1])["end"]
    assert end["block"] == 138 and end["checkpoints"] == 7 and end["id"] == 79
    summary = verify_export(export)
    assert summary.end_signed and summary.block == 138


@pytest.mark.parametrize("cut", range(6))
def test_an_export_cut_after_a_checkpoint_with_a_new_end_record_is_unsigned(
    export: Path, cut: int
) -> None:
    def cut_and_end(lines: list[bytes]) -> list[bytes]:
        i = checkpoint_indexes(lines)[cut]
        cp = json.loads(lines[i])["checkpoint"]
        end = {"end": {"events": cp["events"], "head": cp["head"]}}  # as version 1 ended
        return [*lines[: i + 1], canonical_json(end)]

    rewrite(export, cut_and_end)
    error = failure(export)
    assert error.kind == "unsigned" and "end record is not signed" in str(error)


@pytest.mark.parametrize("cut", range(6))
def test_an_end_record_forged_for_a_cut_export_fails_its_signature(export: Path, cut: int) -> None:
    def forge_end(lines: list[bytes]) -> list[bytes]:
        i = checkpoint_indexes(lines)[cut]
        cp = json.loads(lines[i])["checkpoint"]
        end = json.loads(lines[-1])["end"]  # the genuine one, made to say the cut state
        end.update(events=cp["events"], head=cp["head"], id=cp["id"], checkpoints=cp["seq"])
        return [*lines[: i + 1], canonical_json({"end": end})]

    rewrite(export, forge_end)
    error = failure(export)
    assert error.kind == "bad-signature" and "end record" in str(error)


def test_an_end_record_signed_by_another_key_is_named(export: Path) -> None:
    def resign(lines: list[bytes]) -> list[bytes]:
        end = json.loads(lines[-1])["end"]
        message = f"throne-audit/3 end {end['checkpoints']}:{end['events']}:{end['id']}:"
        message += f"{end['head']}:{end['block']}"
        end.update(signer=INTRUDER.ss58_address, signature=INTRUDER.sign(message.encode()).hex())
        return [*lines[:-1], canonical_json({"end": end})]

    rewrite(export, resign)
    assert failure(export).kind == "wrong-signer"


def test_an_end_record_of_another_edition_of_the_export_is_named(tmp_path: Path) -> None:
    # The validator exports the first 20 events, then appends 20 more in place of the end record.
    log = sample_log(40)
    earlier, later = tmp_path / "earlier.jsonl", tmp_path / "later.jsonl"
    write_export(earlier, log[:20])
    old = earlier.read_bytes()
    old_end = old.splitlines()[-1]
    with later.open("wb") as out:
        out.write(old[: old.rindex(b'{"end":')])
        resume = EndRecord.parse(json.loads(old_end)["end"], FORMAT_VERSION)
        writer = ExportWriter(
            out, VALIDATOR, application="test", checkpoint_every=10, resume=resume
        )
        write_notifications(writer, log[20:], checkpoint_after=is_weights)
        writer.close()
    assert verify_export(later).block == 138
    # cut back to the earlier edition, it is that edition: complete to its own, older block
    rewrite(later, lambda lines: [*lines[: len(old.splitlines()) - 1], old_end])
    assert later.read_bytes() == old and verify_export(later).block == 112
    # the whole file with the earlier end record: named
    write_export(later, log)
    rewrite(later, lambda lines: [*lines[:-1], old_end])
    error = failure(later)
    assert error.kind == "altered" and "another edition" in str(error)


# ---- the header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("application", "other", "altered"),
        ("checkpoint_every", 7, "altered"),
        ("checkpoint_every", 20, "altered"),
        ("version", 2, "altered"),
        ("version", 1, "altered"),
        ("note", "added", "altered"),
        ("signer", INTRUDER.ss58_address, "wrong-signer"),
    ],
)
def test_a_changed_header_field_fails(export: Path, field: str, value: Any, kind: str) -> None:
    def change(lines: list[bytes]) -> list[bytes]:
        header = json.loads(lines[0])
        header[field] = value
        return [canonical_json(header), *lines[1:]]

    rewrite(export, change)
    error = failure(export)
    assert error.kind == kind, error
    if kind == "altered":
        assert "header" in str(error)


# ---- checkpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize("k", range(7))
def test_a_removed_checkpoint_is_named_as_deleted(export: Path, k: int) -> None:
    # k = 0, 2, 4 are due every 10 events; 1, 3, 5 follow a weight submission; 6 is the final
    rewrite(
        export, lambda lines: [x for i, x in enumerate(lines) if i != checkpoint_indexes(lines)[k]]
    )
    error = failure(export)
    assert error.kind == "deleted" and "checkpoint" in str(error), error


def test_a_repeated_checkpoint_is_named_as_inserted(export: Path) -> None:
    def repeat(lines: list[bytes]) -> list[bytes]:
        i = checkpoint_indexes(lines)[1]
        return [*lines[: i + 1], lines[i], *lines[i + 1 :]]

    rewrite(export, repeat)
    error = failure(export)
    assert error.kind == "inserted" and "checkpoint 2 appears again" in str(error)


# ---- naming what was done to the events ---------------------------------------------------------


def test_a_flipped_byte_in_an_originator_is_named_as_altered(export: Path) -> None:
    def flip(lines: list[bytes]) -> list[bytes]:
        i = event_indexes(lines)[4]
        lines[i] = lines[i].replace(b'-000000000001"', b'-000000000009"')
        return lines

    rewrite(export, flip)
    error = failure(export)
    assert error.kind == "altered" and "line 6 is the first out of place" in str(error)


@pytest.mark.parametrize(("old", "new"), [(b'{"id":9,', b'{"id":8,'), (b'{"id":9,', b'{"id":1,')])
def test_a_flipped_byte_in_an_event_id_is_named_as_altered(
    export: Path, old: bytes, new: bytes
) -> None:
    rewrite(export, lambda lines: [line.replace(old, new) for line in lines])
    assert failure(export).kind == "altered"


@pytest.mark.parametrize("k", range(6))
def test_an_event_swapped_with_the_checkpoint_after_it_is_named_as_reordered(
    export: Path, k: int
) -> None:
    def swap(lines: list[bytes]) -> list[bytes]:
        i = checkpoint_indexes(lines)[k]
        lines[i - 1], lines[i] = lines[i], lines[i - 1]
        return lines

    rewrite(export, swap)
    error = failure(export)
    assert error.kind == "reordered" and "comes after the checkpoint" in str(error), error


@pytest.mark.parametrize("k", range(6))
def test_an_event_swapped_with_the_checkpoint_before_it_is_named_as_reordered(
    export: Path, k: int
) -> None:
    def swap(lines: list[bytes]) -> list[bytes]:
        i = checkpoint_indexes(lines)[k]
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        return lines

    rewrite(export, swap)
    error = failure(export)
    assert error.kind == "reordered" and "comes before the checkpoint" in str(error), error


def test_an_event_moved_a_few_lines_on_is_named_as_reordered(export: Path) -> None:
    def move(lines: list[bytes]) -> list[bytes]:
        i = event_indexes(lines)[2]
        moved = lines.pop(i)
        lines.insert(i + 4, moved)
        return lines

    rewrite(export, move)
    error = failure(export)
    assert error.kind == "reordered" and error.line == 8 and "id 5 " in str(error)


def test_a_stretch_too_long_to_keep_is_still_verified_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from throne.audit import verifier

    monkeypatch.setattr(verifier, "MAX_STRETCH", 4)
    path = tmp_path / "log.jsonl"
    write_export(path, sample_log())
    seen: list[ExportedEvent] = []
    assert verify_export(path, on_event=seen.append).events == len(seen) == 40
    # too little kept to tell a move from an edit (which it is with all kept): an edit it is
    rewrite(path, lambda lines: [*lines[:8], lines[9], lines[8], *lines[10:]])
    assert failure(path).kind == "altered"
    monkeypatch.undo()
    assert failure(path).kind == "reordered"


# ---- versions 1 and 2 --------------------------------------------------------------------------


def legacy(tmp_path: Path, version: int = 1) -> Path:
    events = [
        (n.id, str(n.originator_id), n.originator_version, n.topic, json.loads(n.state))
        for n in sample_log()
    ]
    return write_legacy_export(tmp_path / f"v{version}.jsonl", events, VALIDATOR, version=version)


@pytest.mark.parametrize("version", [1, 2])
def test_an_export_of_an_older_version_still_verifies_and_says_its_end_is_unsigned(
    tmp_path: Path, version: int
) -> None:
    summary = verify_export(legacy(tmp_path, version), expected_signer=VALIDATOR.ss58_address)
    assert summary.events == 40 and summary.format_version == version
    assert not summary.end_signed and summary.block is None


def test_an_older_export_still_has_its_tampering_named(tmp_path: Path) -> None:
    path = legacy(tmp_path)
    rewrite(path, lambda lines: [x for i, x in enumerate(lines) if i != event_indexes(lines)[3]])
    assert failure(path).kind == "deleted"
    path = legacy(tmp_path)
    rewrite(path, lambda lines: [x.replace(b'-000000000001"', b'-000000000009"') for x in lines])
    assert failure(path).kind == "altered"


def test_an_older_export_cut_short_cannot_be_told_from_a_whole_one(tmp_path: Path) -> None:
    # Why version 3 signs its end record: without it, a file cut after a checkpoint is whole.
    path = legacy(tmp_path)

    def cut(lines: list[bytes]) -> list[bytes]:
        i = checkpoint_indexes(lines)[1]
        cp = json.loads(lines[i])["checkpoint"]
        return [
            *lines[: i + 1],
            canonical_json({"end": {"events": cp["events"], "head": cp["head"]}}),
        ]

    rewrite(path, cut)
    summary = verify_export(path)
    assert summary.events == 20 and not summary.end_signed


def test_a_numbered_checkpoint_under_an_older_header_is_named_as_altered(export: Path) -> None:
    def downgrade(lines: list[bytes]) -> list[bytes]:
        return [lines[0].replace(b'"version":3', b'"version":2'), *lines[1:]]

    rewrite(export, downgrade)
    error = failure(export)
    assert error.kind == "altered" and "version was altered" in str(error)
