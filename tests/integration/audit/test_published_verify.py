"""Verifying a published log part by part, from a state file: a first run replays the whole
contest, later ones download only the new parts; every kind of tampering is named."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.audit.published_log import VALIDATOR, PublishedLog
from tests.support.played import retire_first_pool, set_weights
from tests.support.s3 import S3Server
from throne.audit.format import AuditError, canonical_json
from throne.audit.incremental import PublishedReport, verify_published
from throne.audit.verified_state import StateError


@pytest.fixture
def log(s3: S3Server, tmp_path: Path, aws: None) -> Iterator[PublishedLog]:
    log = PublishedLog(s3, tmp_path)
    log.publish()
    yield log
    log.close()


def check(log: PublishedLog, *, full: bool = False) -> PublishedReport:
    return verify_published(
        log.open_store(),
        state_path=log.state,
        expected_signer=VALIDATOR.ss58_address,
        full=full,
    )


def failure(log: PublishedLog) -> AuditError:
    with pytest.raises(AuditError) as failed:
        check(log)
    return failed.value


def test_a_first_run_checks_every_part_and_replays_the_contest(log: PublishedLog) -> None:
    report = check(log)
    assert report.checked == tuple(log.part_keys()) and report.replay is not None
    assert report.replay.verdicts_checked == 2 and report.replay.weights_checked == 2
    audit = report.audit
    assert audit is not None and audit.to_dict()["chain"]["end_signed"]
    state = json.loads(log.state.read_bytes())
    assert state["parts"] == [p["sha256"] for p in log.index()["parts"]]
    assert state["state"]["head"] == log.index()["parts"][-1]["head"]


def test_a_later_run_downloads_only_the_parts_published_since(log: PublishedLog) -> None:
    check(log)
    old = log.part_keys()
    retire_first_pool(log.driver)
    set_weights(log.app, 121)
    log.publish()
    new = log.part_keys()[len(old) :]
    assert new
    report = check(log)
    assert report.checked == tuple(new) and report.replay is None and report.audit is None
    assert report.export is not None and report.export.block == 121
    assert report.to_dict()["chain"]["events"] == log.index()["parts"][-1]["checkpoint"]["events"]
    assert check(log).checked == ()  # up to date
    # --full checks it all again, replaying: the seed of pool 1, retired, checks out
    full = check(log, full=True)
    assert full.checked == tuple(old + new) and full.replay is not None
    assert full.replay.pools_checked == 1


def test_a_part_whose_bytes_changed_fails_on_its_sha256(log: PublishedLog) -> None:
    key = log.part_keys()[1]
    data = log.objects()[key]
    log.put(key, data[:-1] + bytes([data[-1] ^ 1]))
    error = failure(log)
    assert error.kind == "part-mismatch" and "part 2" in str(error)
    assert not log.state.exists()  # a failed run advances nothing


def rehash_part(log: PublishedLog, seq: int, edit: bytes, into: bytes) -> None:
    """Change part ``seq``'s lines, store it under its new sha256 and name that in the index:
    a consistent index over a part the signer never wrote."""
    index = log.index()
    entry = index["parts"][seq - 1]
    plain = gzip.decompress(log.objects()[entry["key"]])
    assert edit in plain
    data = gzip.compress(plain.replace(edit, into, 1))
    sha = hashlib.sha256(data).hexdigest()
    entry.update(sha256=sha, bytes=len(data), key=f"parts/{seq:06d}-{sha}.jsonl.gz")
    log.put(entry["key"], data)
    log.put("index.json", canonical_json(index))


def test_a_part_rehashed_under_a_consistent_index_fails_on_its_links(log: PublishedLog) -> None:
    rehash_part(log, 2, b'"score":1.0', b'"score":0.5')
    error = failure(log)
    assert error.kind == "altered" and str(error).startswith("part 2 (parts/000002-")


def test_a_part_named_in_the_index_but_gone_is_missing(log: PublishedLog) -> None:
    log.delete(log.part_keys()[2])
    error = failure(log)
    assert error.kind == "part-missing" and "part 3" in str(error)


def test_an_index_that_says_other_than_its_part_is_caught(log: PublishedLog) -> None:
    index = log.index()
    index["parts"][0]["block"] = 999
    log.put("index.json", canonical_json(index))
    assert failure(log).kind == "index-mismatch"


def test_parts_removed_from_the_index_after_they_were_verified(log: PublishedLog) -> None:
    check(log)
    index = log.index()
    index["parts"].pop()
    log.put("index.json", canonical_json(index))
    error = failure(log)
    assert error.kind == "index-rewritten" and "were removed" in str(error)


def test_a_log_published_afresh_over_the_verified_one(log: PublishedLog) -> None:
    """The validator starts the published log over (new signatures, new parts): a reader who
    verified the old one is told, rather than handed another history."""
    check(log)
    for key in log.objects():
        log.delete(key)
    log.publish()
    error = failure(log)
    assert error.kind == "index-rewritten" and "part 1 was verified before" in str(error)
    assert check(log, full=True).replay is not None  # --full takes the new log from the start


def test_reordered_parts_are_an_index_that_does_not_follow_on(log: PublishedLog) -> None:
    index = log.index()
    index["parts"][0], index["parts"][1] = index["parts"][1], index["parts"][0]
    log.put("index.json", canonical_json(index))
    assert failure(log).kind == "index-corrupt"


def test_another_signer_is_refused(log: PublishedLog) -> None:
    with pytest.raises(AuditError) as failed:
        verify_published(log.open_store(), state_path=log.state, expected_signer="5Bob")
    assert failed.value.kind == "wrong-signer"


def test_nothing_published_there(log: PublishedLog) -> None:
    log.delete("index.json")
    assert failure(log).kind == "no-index"


def test_a_state_file_of_another_log_is_refused(
    log: PublishedLog, s3: S3Server, tmp_path: Path
) -> None:
    check(log)
    (tmp_path / "other").mkdir()
    other = PublishedLog(s3, tmp_path / "other", prefix="elsewhere")
    try:
        other.publish()
        with pytest.raises(StateError, match="give each log a --state of its own"):
            verify_published(other.open_store(), state_path=log.state)
    finally:
        other.close()
