"""Appending to a published export: the old part stays, the chain goes on, seeds are revealed."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tests.support.contest import Driver, small_config
from tests.support.paths import FIXTURES
from tests.support.played import play_first_pool, retire_first_pool, set_weights
from throne.adapters.storage.database import Database, parse_database_url
from throne.application import ThroneApplication
from throne.audit.append import AppendError
from throne.audit.format import FORMAT_VERSION, AuditError, canonical_json
from throne.audit.log_export import append_database, export_database
from throne.audit.signing import keypair_from_text
from throne.audit.sources import DatabaseLog, ExportFile
from throne.audit.verification import verify as verify_source
from throne.domain.contest.pool import seed_commitment

VALIDATOR = keypair_from_text("//Alice")
POOL_TOPIC = b'"topic":"throne:Contest.PoolRefreshed"'


class Log:
    """A contest on a SQLite store, exported while pool 1 was current."""

    def __init__(self, tmp_path: Path) -> None:
        self.db: Database = parse_database_url(str(tmp_path / "log.db"))
        self.app = ThroneApplication(small_config(burn=0.25), env=self.db.eventsourcing_env())
        self.driver: Driver = play_first_pool(self.app)
        self.out = tmp_path / "audit.jsonl"
        export_database(self.db, self.out, VALIDATOR)
        self.published = self.out.read_bytes()


@pytest.fixture
def log(tmp_path: Path) -> Any:
    log = Log(tmp_path)
    yield log
    log.app.close()


def verify(path: Path, jobs: int = 1) -> Any:
    """(the export's summary, the replay's) of a verification of the export at ``path``."""
    report = verify_source(ExportFile(path), expected_signer=VALIDATOR.ss58_address, jobs=jobs)
    return report.export, report.replay


def header(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes().split(b"\n", 1)[0])  # type: ignore[no-any-return]


def pool_ids(path: Path) -> dict[int, str | None]:
    """PoolRefreshed id -> the seed its line carries."""
    records = [json.loads(line) for line in path.read_bytes().splitlines() if POOL_TOPIC in line]
    return {r["id"]: r["payload"]["seed"] for r in records}


def test_the_export_withholds_the_current_pools_seed(log: Log) -> None:
    assert list(pool_ids(log.out).values()) == [None]
    assert header(log.out)["version"] == FORMAT_VERSION
    _, replay = verify(log.out)
    assert (replay.pools_checked, replay.pools_unrevealed) == (0, 1)


def test_an_append_reveals_the_pool_retired_since_and_verifies(log: Log) -> None:
    (pool_1,) = pool_ids(log.out)
    retire_first_pool(log.driver)
    appended = append_database(log.db, log.out, VALIDATOR)
    assert appended.events == 2 and appended.revealed == (pool_1,)
    chain, replay = verify(log.out)
    assert appended.version == header(log.out)["version"] == chain.format_version == FORMAT_VERSION
    # pool 1 checked against the seed revealed; pool 2's seed is withheld in its turn
    assert (replay.pools_checked, replay.pools_unrevealed) == (1, 1)
    assert list(pool_ids(log.out).values()) == [None, None]
    assert replay.verdicts_checked == 2 and replay.weights_checked == 3
    # the final checkpoint reveals the seed the database holds, which the commitment binds
    last_checkpoint = json.loads(log.out.read_bytes().splitlines()[-2])["checkpoint"]
    seed = bytes.fromhex(last_checkpoint["reveals"][str(pool_1)])
    line = next(line for line in log.published.splitlines() if POOL_TOPIC in line)
    assert seed_commitment(seed) == json.loads(line)["payload"]["seed_commitment"]


def test_the_old_bytes_stay_all_but_the_end_record(log: Log) -> None:
    retire_first_pool(log.driver)
    append_database(log.db, log.out, VALIDATOR)
    old, new = log.published, log.out.read_bytes()
    end = old[old.rindex(b"\n", 0, len(old) - 1) + 1 :]
    assert end.startswith(b'{"end":')
    kept = len(old) - len(end)
    # Byte for byte, the new file starts with the old one, header and all. The old end record
    # is gone: the new part (event lines, checkpoints, a new end record) starts where it started.
    assert new[:kept] == old[:kept]
    assert new[kept:].startswith(b'{"id":') and not new[kept:].startswith(end)
    assert new.endswith(b"\n") and new.splitlines()[-1].startswith(b'{"end":')


def test_the_appended_end_record_is_signed_anew_and_names_the_newest_block(log: Log) -> None:
    old_end = json.loads(log.published.splitlines()[-1])["end"]
    retire_first_pool(log.driver)
    set_weights(log.app, 121)
    append_database(log.db, log.out, VALIDATOR)
    end = json.loads(log.out.read_bytes().splitlines()[-1])["end"]
    assert end["signature"] != old_end["signature"] and end["events"] > old_end["events"]
    assert old_end["block"] < end["block"] == 121
    # numbered on from the old part's checkpoints
    checkpoints = [
        json.loads(line)["checkpoint"]["seq"]
        for line in log.out.read_bytes().splitlines()
        if line.startswith(b'{"checkpoint":')
    ]
    assert checkpoints == list(range(1, end["checkpoints"] + 1))
    assert checkpoints[-1] > old_end["checkpoints"]
    chain, _ = verify(log.out)
    assert chain.end_signed and chain.block == 121


def test_an_appended_export_cut_back_to_its_old_end_record_is_the_old_edition(log: Log) -> None:
    # The earlier edition's end record, signed, still describes the old part: a reader of the
    # cut file sees how far it goes.
    old_end = log.published.splitlines(keepends=True)[-1]
    retire_first_pool(log.driver)
    append_database(log.db, log.out, VALIDATOR)
    new_block = verify(log.out)[0].block
    log.out.write_bytes(log.published[: log.published.rindex(b'{"end":')] + old_end)
    chain, _ = verify(log.out)
    assert chain.block is not None and new_block is not None and chain.block < new_block


def test_a_one_shot_export_of_the_same_log_gives_the_same_contest_summary(
    log: Log, tmp_path: Path
) -> None:
    retire_first_pool(log.driver)
    append_database(log.db, log.out, VALIDATOR)
    again = tmp_path / "again.jsonl"
    export_database(log.db, again, VALIDATOR)
    appended_chain, appended = verify(log.out)
    one_shot_chain, one_shot = verify(again)
    assert asdict(appended) == asdict(one_shot)
    assert appended_chain.events == one_shot_chain.events
    assert appended_chain.topics == one_shot_chain.topics
    # The one-shot export writes pool 1's seed in its line, and ends where the append ended.
    seeds = list(pool_ids(again).values())
    assert seeds[0] and seeds[1] is None
    assert appended_chain.block == one_shot_chain.block


def test_an_append_with_nothing_new_leaves_the_file_as_it_was(log: Log) -> None:
    appended = append_database(log.db, log.out, VALIDATOR)
    assert not appended.changed and log.out.read_bytes() == log.published
    retire_first_pool(log.driver)
    append_database(log.db, log.out, VALIDATOR)
    once = log.out.read_bytes()
    assert not append_database(log.db, log.out, VALIDATOR).changed
    assert log.out.read_bytes() == once


def test_an_append_that_reveals_nothing_writes_no_reveals(log: Log) -> None:
    set_weights(log.app, 11)
    appended = append_database(log.db, log.out, VALIDATOR)
    assert appended.events == 1 and appended.revealed == ()
    assert b"reveals" not in log.out.read_bytes()
    _, replay = verify(log.out)
    assert (replay.weights_checked, replay.pools_unrevealed) == (3, 1)


def test_each_append_reveals_the_pools_retired_since_the_one_before(log: Log) -> None:
    retire_first_pool(log.driver)
    append_database(log.db, log.out, VALIDATOR)
    assert log.driver.tick(240) == ["pool_refreshed"]
    appended = append_database(log.db, log.out, VALIDATOR)
    pool_2 = sorted(pool_ids(log.out))[1]
    assert appended.events == 1 and appended.revealed == (pool_2,)
    _, replay = verify(log.out)
    assert (replay.pools_checked, replay.pools_unrevealed) == (2, 1)


def test_an_append_racing_a_pool_refresh_reveals_nothing_drawn_meanwhile(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    from throne.audit import stored

    retire_first_pool(log.driver)
    monkeypatch.setattr(stored, "PROGRESS_EVERY", 1)
    steps: list[str] = []

    def daemon_goes_on(done: int, total: int) -> None:
        if not steps:  # while the append is under way, the daemon draws pool 3
            steps.extend(log.driver.tick(240))

    appended = append_database(log.db, log.out, VALIDATOR, progress=daemon_goes_on)
    assert steps == ["pool_refreshed"]
    # The log as it stood when the append began: pool 2 current, its seed withheld.
    assert appended.events == 2 and len(appended.revealed) == 1
    assert list(pool_ids(log.out).values()) == [None, None]
    _, replay = verify(log.out)
    assert (replay.pools_checked, replay.pools_unrevealed) == (1, 1)
    # the next append takes pool 3 and reveals pool 2
    assert append_database(log.db, log.out, VALIDATOR).events == 1
    assert verify(log.out)[1].pools_checked == 2


# ---- tampering -------------------------------------------------------------------------------


def appended_file(log: Log) -> tuple[int, list[bytes]]:
    retire_first_pool(log.driver)
    (pool_1,) = append_database(log.db, log.out, VALIDATOR).revealed
    return pool_1, log.out.read_bytes().splitlines(keepends=True)


def with_reveals(line: bytes, reveals: dict[str, Any] | None) -> bytes:
    record = json.loads(line)
    if reveals is None:
        del record["checkpoint"]["reveals"]
    else:
        record["checkpoint"]["reveals"] = reveals
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize(
    ("reveals", "fragment"),
    [
        ({"POOL": "00" * 32}, "does not hash to its commitment"),
        ({"1": "00" * 32}, "not a PoolRefreshed written without its seed"),
        (None, "never revealed"),
    ],
)
def test_a_wrong_or_missing_reveal_is_a_pool_mismatch(
    log: Log, reveals: dict[str, Any] | None, fragment: str
) -> None:
    pool_1, lines = appended_file(log)
    if reveals is not None:
        reveals = {str(pool_1) if k == "POOL" else k: v for k, v in reveals.items()}
    lines[-2] = with_reveals(lines[-2], reveals)
    log.out.write_bytes(b"".join(lines))
    with pytest.raises(AuditError) as exc:
        verify(log.out)
    assert exc.value.kind == "pool-mismatch" and fragment in str(exc.value)


def test_a_seed_revealed_twice_is_a_pool_mismatch(log: Log) -> None:
    pool_1, lines = appended_file(log)
    seed = json.loads(lines[-2])["checkpoint"]["reveals"][str(pool_1)]
    # the same reveal on an earlier checkpoint of the new part as well
    earlier = max(i for i, line in enumerate(lines[:-2]) if line.startswith(b'{"checkpoint":'))
    lines[earlier] = with_reveals(lines[earlier], {str(pool_1): seed})
    log.out.write_bytes(b"".join(lines))
    with pytest.raises(AuditError) as exc:
        verify(log.out)
    assert exc.value.kind == "pool-mismatch" and "revealed already" in str(exc.value)


def test_an_appended_export_declared_version_1_is_named_as_altered(log: Log) -> None:
    _, lines = appended_file(log)
    lines[0] = lines[0].replace(b'"version":3}', b'"version":1}')
    log.out.write_bytes(b"".join(lines))
    with pytest.raises(AuditError) as exc:
        verify(log.out)
    assert exc.value.kind == "altered" and "version was altered" in str(exc.value)


# ---- refusals and failures ---------------------------------------------------------------------


GOLDEN = FIXTURES / "golden-log-v1.jsonl"


def test_an_append_to_an_export_of_an_older_version_is_refused(log: Log, tmp_path: Path) -> None:
    old = tmp_path / "v1.jsonl"
    old.write_bytes(GOLDEN.read_bytes())
    with pytest.raises(AppendError, match="format version 1, whose end record is unsigned"):
        append_database(log.db, old, VALIDATOR)
    assert old.read_bytes() == GOLDEN.read_bytes()


@pytest.mark.parametrize("end", ["unsigned", "forged"])
def test_an_append_to_an_export_without_a_valid_end_record_is_refused(log: Log, end: str) -> None:
    record = json.loads(log.published.splitlines()[-1])
    if end == "unsigned":
        del record["end"]["signature"]
    else:
        record["end"]["block"] += 1
    tampered = log.published[: log.published.rindex(b'{"end":')] + canonical_json(record) + b"\n"
    log.out.write_bytes(tampered)
    with pytest.raises(AppendError, match="end record"):
        append_database(log.db, log.out, VALIDATOR)
    assert log.out.read_bytes() == tampered


def test_an_append_to_another_logs_export_is_refused(log: Log, tmp_path: Path) -> None:
    other = parse_database_url(str(tmp_path / "other.db"))
    app = ThroneApplication(small_config(burn=0.25), env=other.eventsourcing_env())
    retire_first_pool(play_first_pool(app))
    app.close()
    with pytest.raises(AppendError, match="not this log's"):
        append_database(other, log.out, VALIDATOR)
    assert log.out.read_bytes() == log.published


class FailingSigner:
    """Signs ``allowed`` times, then fails: a write that breaks half-way."""

    def __init__(self, allowed: int) -> None:
        self.ss58_address = VALIDATOR.ss58_address
        self.allowed = allowed

    def sign(self, data: bytes) -> bytes:
        if self.allowed == 0:
            raise OSError(28, "No space left on device")
        self.allowed -= 1
        return VALIDATOR.sign(data)


@pytest.mark.parametrize("allowed", [0, 1])
def test_an_append_that_fails_half_way_leaves_the_file_as_it_was(log: Log, allowed: int) -> None:
    retire_first_pool(log.driver)
    set_weights(log.app, 121)
    with pytest.raises(OSError, match="No space"):
        append_database(log.db, log.out, FailingSigner(allowed))
    # event lines had been written: all undone
    assert log.out.read_bytes() == log.published
    appended = append_database(log.db, log.out, VALIDATOR)
    assert appended.events == 3 and verify(log.out)[1].pools_checked == 1


def test_an_appended_export_loads_with_the_revealed_seeds_in_place(
    log: Log, tmp_path: Path
) -> None:
    from throne.audit.load import load_export

    retire_first_pool(log.driver)
    append_database(log.db, log.out, VALIDATOR)
    loaded = parse_database_url(str(tmp_path / "loaded.db"))
    assert load_export(log.out, loaded, expected_signer=VALIDATOR.ss58_address) == 49
    replay = verify_source(DatabaseLog(loaded)).replay
    # pool 1 has its seed again (checked when pool 2 retired it); pool 2's is still secret
    assert replay.events == 49 and (replay.pools_checked, replay.pools_unrevealed) == (1, 1)


SLOW_APPEND = """
import sys, time
from pathlib import Path
from throne.adapters.storage.database import parse_database_url
from throne.audit.log_export import append_database
from throne.audit.signing import keypair_from_text

key = keypair_from_text("//Alice")

class Stalling:
    ss58_address = key.ss58_address
    signed = 0

    def sign(self, data):
        Stalling.signed += 1
        if Stalling.signed == 2:  # the final checkpoint, after lines have reached the disk
            time.sleep(120)  # killed here, in the middle of the append
        return key.sign(data)

append_database(parse_database_url(sys.argv[1]), Path(sys.argv[2]), Stalling())
"""


def test_an_append_killed_midway_is_undone_by_the_next_one(log: Log) -> None:
    import signal
    import subprocess
    import sys
    import time

    from throne.audit.append import journal_path

    retire_first_pool(log.driver)
    for i in range(30):  # enough new lines after the first checkpoint to leave the buffer
        log.driver.join(f"late-{i:02d}", block=130 + i)
    log.driver.sync()
    journal = journal_path(log.out)
    child = subprocess.Popen([sys.executable, "-c", SLOW_APPEND, str(log.db.path), str(log.out)])
    try:
        deadline = time.monotonic() + 60
        # Until new lines have reached the disk: the child then stalls at the final checkpoint.
        while not (journal.exists() and log.out.stat().st_size > len(log.published)):
            assert time.monotonic() < deadline and child.poll() is None, "the append never began"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # Killed: no handler ran. Part of the new lines are on disk, the file has no end record,
    # and the journal is left.
    killed = log.out.read_bytes()
    assert journal.exists() and len(killed) > len(log.published)
    assert b'{"end":' not in killed[-300:]
    appended = append_database(log.db, log.out, VALIDATOR)
    assert appended.restored and appended.events == 32 and not journal.exists()
    _, replay = verify(log.out)
    assert replay.pools_checked == 1
    old_part = log.published[: log.published.rindex(b'{"end":')]
    assert log.out.read_bytes().startswith(old_part)


def test_a_journal_that_does_not_describe_the_export_is_refused(log: Log) -> None:
    from throne.audit.append import journal_path

    journal_path(log.out).write_bytes(b'{"end_line":"00","end_offset":1,"header_line":"7b7d"}')
    with pytest.raises(AppendError, match="does not describe"):
        append_database(log.db, log.out, VALIDATOR)
    assert log.out.read_bytes() == log.published


def test_verifying_an_export_whose_append_was_interrupted_says_what_to_do(
    log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    from throne.audit.append import journal_path
    from throne.cli.main import main

    journal_path(log.out).write_bytes(b"{}")
    log.out.write_bytes(log.published[: log.published.rindex(b'{"end":')])
    assert main(["audit", "verify", str(log.out)]) == 1
    err = capsys.readouterr().err
    assert "truncated" in err and "--append" in err and err.count("\n") == 1
