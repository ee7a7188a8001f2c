"""The export's records as types: what each dumps, it parses back to; and every reader reads
them through the same parse."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from throne.audit.format import FORMAT_VERSION, AuditError, canonical_json
from throne.audit.links import LinkState, first_head
from throne.audit.reader import checkpoint_after, lines_backwards, read_header
from throne.audit.records import Checkpoint, EndRecord, ExportedEvent, Header
from throne.audit.signing import keypair_from_text
from throne.audit.sources import ExportFile, export_source
from throne.audit.stored import exported, parse_state
from throne.audit.writer import ExportWriter

SIGNER = keypair_from_text("//Alice")
ORIGINATOR = "00000000-0000-0000-0000-000000000001"


def test_each_record_parses_back_to_what_it_dumped() -> None:
    header = Header("throne", SIGNER.ss58_address, 10)
    assert Header.read(header.dump()) == header
    event = ExportedEvent(7, ORIGINATOR, 2, "t:Done", {"block": 3, "score": 0.5})
    assert ExportedEvent.parse(json.loads(event.dump())) == event
    state = LinkState(5, first_head(FORMAT_VERSION, header.dump()), 7, 1)
    checkpoint = Checkpoint.signed(SIGNER, state, {9: "0a"})
    assert Checkpoint.read(checkpoint.dump(), FORMAT_VERSION) == checkpoint
    assert checkpoint.verifies() and checkpoint.state == state
    end = EndRecord.sign(SIGNER, state, block=3)
    assert EndRecord.read(end.dump(), FORMAT_VERSION) == end
    assert end.verifies() and end.state == state


def test_every_line_a_record_dumps_is_canonical_json() -> None:
    state = LinkState(1, b"\x01" * 32, 2, 1)
    for line in (
        Header("throne", SIGNER.ss58_address, 10).dump(),
        ExportedEvent(2, ORIGINATOR, 1, "t", {"b": [1, 2.5], "a": "é"}).dump(),
        Checkpoint.signed(SIGNER, state).dump(),
        EndRecord.sign(SIGNER, state, None).dump(),
    ):
        assert canonical_json(json.loads(line)) == line


@pytest.mark.parametrize(
    "record",
    [
        {"id": "1", "originator": ORIGINATOR, "payload": {}, "topic": "t", "version": 1},
        {"id": 1, "originator": 5, "payload": {}, "topic": "t", "version": 1},
        {"id": 1, "originator": ORIGINATOR, "payload": {}, "topic": ["t"], "version": 1},
        {"id": 1, "originator": ORIGINATOR, "topic": "t", "version": 1},
    ],
)
def test_an_event_line_of_the_wrong_shape_is_corrupt(record: dict[str, object]) -> None:
    with pytest.raises(AuditError) as exc:
        ExportedEvent.parse(record, line=4)
    assert exc.value.kind == "corrupt" and exc.value.line == 4


def test_a_line_that_holds_another_record_is_no_checkpoint() -> None:
    with pytest.raises(AuditError) as exc:
        Checkpoint.read(b'{"end":{"events":0,"head":"00"}}', FORMAT_VERSION)
    assert exc.value.kind == "corrupt"


def written(path: Path, events: int, every: int = 2) -> Path:
    with path.open("wb") as out:
        writer = ExportWriter(out, SIGNER, application="test", checkpoint_every=every)
        for i in range(1, events + 1):
            writer.write(ExportedEvent(i, ORIGINATOR, i, "t", {"i": i}))
        writer.close()
    return path


def test_the_reader_finds_the_header_a_checkpoint_and_the_tail_through_the_same_records(
    tmp_path: Path,
) -> None:
    path = written(tmp_path / "log.jsonl", 5)
    lines = path.read_bytes().splitlines()
    header, line = read_header(ExportFile(path))
    assert line == lines[0] and header == Header.read(lines[0])
    with path.open("rb") as f:
        found = checkpoint_after(f, len(lines[0]), header.version)
        assert found is not None
        _, checkpoint = found
        assert checkpoint == Checkpoint.read(lines[3], header.version)
        assert checkpoint.state == LinkState(2, checkpoint.head, 2, 1)
        last = [line for _, line in lines_backwards(f, path.stat().st_size, stop=0)]
    assert last == lines[::-1]
    end = EndRecord.read(lines[-1], header.version)
    assert end.state == Checkpoint.read(lines[-2], header.version).state


def test_a_compressed_export_is_told_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    plain = written(tmp_path / "log.jsonl", 3)
    named_gz = tmp_path / "plain.jsonl.gz"
    named_gz.write_bytes(plain.read_bytes())
    compressed = tmp_path / "compressed.jsonl"
    compressed.write_bytes(gzip.compress(plain.read_bytes()))
    assert not ExportFile(named_gz).compressed() and ExportFile(compressed).compressed()
    assert read_header(export_source(compressed)) == read_header(export_source(named_gz))


def test_a_stored_state_orjson_cannot_read_is_read_as_before_within_bounds() -> None:
    assert parse_state(b'{"score": NaN}')["score"] != parse_state(b'{"score": NaN}')["score"]
    assert parse_state(b'{"big": 123456789012345678901234567890}')["big"] > 2**64

    class Deep:
        id, originator_id, originator_version, topic = 3, ORIGINATOR, 1, "t"
        state = b'{"a":' * 2000 + b"1" + b"}" * 2000

    with pytest.raises(AuditError) as exc:
        exported(Deep())
    assert exc.value.kind == "corrupt" and "id 3" in str(exc.value)
