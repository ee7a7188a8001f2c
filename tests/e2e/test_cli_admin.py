"""`throne admin`: operator actions recorded in the log with their reasons, shown by rank and
history, replayed by the audit; refusals name their rule and record nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.contest import Driver, fixed, small_config
from tests.support.played import play, set_weights
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.cli.main import main
from throne.domain.contest.contest import Contest


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("THRONE_DB", raising=False)


def app_on(path: Path) -> ThroneApplication:
    return ThroneApplication(
        small_config(burn=0.25), env=parse_database_url(str(path)).eventsourcing_env()
    )


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A contest played to its end: ``strong`` holds the crown."""
    path = tmp_path / "log.db"
    app = app_on(path)
    play(app)
    app.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def read(capsys: pytest.CaptureFixture[str], command: str, db: Path) -> dict:  # type: ignore[type-arg]
    code, out, err = run(capsys, command, "--db", str(db), "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_actions_are_recorded_shown_and_replayed_by_the_audit(
    db_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(db_file)
    champion = read(capsys, "rank", db_file)["champion"]
    assert champion["hotkey"] == "strong"
    uid = str(champion["uid"])

    code, out, _ = run(capsys, "admin", "blacklist", "strong", "--reason", "sybil", "--db", db)
    assert code == 0 and out.startswith("blacklist strong: recorded (contest version ")
    rank = read(capsys, "rank", db_file)
    assert rank["blacklisted"] == [{"hotkey": "strong", "uid": int(uid), "reason": "sybil"}]
    assert rank["weights"] == {"0": 1.0}, "a blacklisted champion is paid nothing"

    for argv in (
        ["set-burn", "0.4", "--reason", "halve"],
        ["unblacklist", "strong", "--reason", "appeal granted"],
        ["pause", "--reason", "maintenance"],
    ):
        assert run(capsys, "admin", *argv, "--db", db)[0] == 0
    rank = read(capsys, "rank", db_file)
    assert rank["weights"] == {uid: 0.6, "0": 0.4}
    assert rank["operations"]["paused_since_block"] is not None
    assert rank["operations"]["burn"] == 0.4 and rank["operations"]["burn_set_by_operator"]
    code, text, _ = run(capsys, "rank", "--db", db)
    assert "PAUSED by the operator since block" in text and "set by the operator" in text

    for argv in (["resume", "--reason", "back"], ["rotate-pool", "--reason", "pool leaked"]):
        assert run(capsys, "admin", *argv, "--db", db, "--json")[0] == 0
    history = read(capsys, "history", db_file)
    actions = [
        (a["action"], a["hotkey"], a["burn"], a["reason"]) for a in history["operator_actions"]
    ]
    assert actions == [
        ("blacklist", "strong", None, "sybil"),
        ("set_burn", None, 0.4, "halve"),
        ("unblacklist", "strong", None, "appeal granted"),
        ("pause", None, None, "maintenance"),
        ("resume", None, None, "back"),
        ("rotate_pool", None, None, "pool leaked"),
    ]
    code, text, _ = run(capsys, "history", "--db", db)
    assert "Operator actions" in text and "appeal granted" in text

    # The weight setter's next vector carries the operator's burn; the audit recomputes it.
    app = app_on(db_file)
    set_weights(app, app.last_block() + 1)
    app.close()
    out_file = tmp_path / "audit.jsonl"
    assert run(capsys, "audit", "export", "--db", db, "--out", str(out_file))[0] == 0
    code, text, err = run(capsys, "audit", "verify", str(out_file), "--json")
    assert code == 0, err
    report = json.loads(text)
    assert report["ok"] and report["weights_checked"] >= 3
    topics = [json.loads(line).get("topic") for line in out_file.read_text().splitlines()]
    assert Contest.BurnSet.TOPIC in topics and Contest.Blacklisted.TOPIC in topics


@pytest.mark.parametrize(
    ("argv", "rule"),
    [
        (["blacklist", "nobody"], "unknown_hotkey"),
        (["unblacklist", "strong"], "not_blacklisted"),
        (["set-burn", "1.5"], "burn_out_of_range"),
        (["set-burn", "-0.1"], "burn_out_of_range"),
        (["set-burn", "half"], "burn_out_of_range"),
        (["resume"], "not_paused"),
    ],
)
def test_a_refused_action_names_its_rule_and_records_nothing(
    db_file: Path, capsys: pytest.CaptureFixture[str], argv: list[str], rule: str
) -> None:
    before = read(capsys, "rank", db_file)["contest_version"]
    code, out, err = run(capsys, "admin", *argv, "--reason", "r", "--db", str(db_file))
    assert code == 1 and out == ""
    assert err.strip().startswith(f"throne: error: refused ({rule}): ") and "\n" not in err.strip()
    assert read(capsys, "rank", db_file)["contest_version"] == before


def test_a_rotation_during_a_battle_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "battle.db"
    app = app_on(path)
    d = Driver(small_config(burn=0.25), app=app)
    d.join("champ", block=1)
    d.join("chal", block=2)
    d.sync()
    d.tick(5)
    d.tick(6)
    d.score({"champ": fixed(0.5)})
    assert d.tick(7) == ["battle_started"]
    app.close()
    code, _, err = run(capsys, "admin", "rotate-pool", "--reason", "r", "--db", str(path))
    assert code == 1 and "refused (battle_in_progress): chal is battling" in err


def test_a_reason_is_required_and_the_help_says_what_each_action_does(
    db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["admin", "pause", "--db", str(db_file)])
    assert exit_.value.code == 2
    assert "--reason" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["admin", "--help"])
    text = capsys.readouterr().out
    for action in ("blacklist", "unblacklist", "set-burn", "rotate-pool", "pause", "resume"):
        assert action in text
    code, _, err = run(capsys, "admin", "pause", "--reason", "r", "--db", "/nonexistent/x.db")
    assert code == 1 and "no event log at" in err
