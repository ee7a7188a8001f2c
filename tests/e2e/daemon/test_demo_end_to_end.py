"""The daemon against the local chain, the loopback Hub and the local miner engines it
deploys, until battles are decided."""

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.engines import engines_left
from throne.cli.main import main
from throne.demo.cast import CAST
from throne.demo.run import DemoDirectoryInUse, DemoOptions, run_demo

HK = {a.name: a.hotkey for a in CAST}


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    directory = tmp_path_factory.mktemp("demo")
    return run_demo(DemoOptions(directory=directory, timeout_seconds=150))


def test_at_least_three_battles_are_decided_and_golf_falls_short(summary: dict) -> None:  # type: ignore[type-arg]
    """Echo, whose model no engine serves, is terminated before it ever battles. Which of the
    stronger challengers dethrones whom can depend on the order samples are recorded in (an
    early regression is judged on what has been scored so far), so only what holds whatever that
    order is checked here: the weakest challenger never takes the crown."""
    assert summary["battles_decided"] >= 3
    terminated = {m["hotkey"]: m["reason"] for m in summary["terminated"]}
    assert terminated[HK["golf"]].startswith("lost_to_champion:")
    assert summary["champion"] != HK["golf"]


def test_the_first_champion_is_crowned_by_cold_start_and_then_dethroned(summary: dict) -> None:  # type: ignore[type-arg]
    reigns = summary["reigns"]
    assert reigns[0]["hotkey"] == HK["alpha"]
    assert reigns[0]["took_it_by"] == "cold_start"
    assert len(reigns) >= 2
    for before, after in itertools.pairwise(reigns):
        assert before["until_block"] == after["from_block"]
        assert before["ended_by"] == after["hotkey"]
        # The demo runs the default rule, the sequential test.
        assert after["took_it_by"].startswith("sequential_better_at_look_")
    assert reigns[-1]["until_block"] is None
    assert summary["champion"] == reigns[-1]["hotkey"]


def test_copies_malformed_commitments_and_unreachable_miners_never_take_the_crown(
    summary: dict,  # type: ignore[type-arg]
) -> None:
    invalid = {m["hotkey"]: m["reason"] for m in summary["invalid"]}
    assert invalid[HK["charlie"]] == f"copy_of:{HK['bravo']}"
    assert invalid[HK["delta"]] == "invalid_json"
    terminated = {m["hotkey"]: m["reason"] for m in summary["terminated"]}
    # No engine can serve echo's model: released at each failed deploy, then terminated.
    assert terminated[HK["echo"]] == "unservable"
    champions = {r["hotkey"] for r in summary["reigns"]}
    assert not champions & {HK["charlie"], HK["delta"], HK["echo"]}


def _miner(summary: dict, name: str, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    db = str(Path(summary["directory"]) / "throne.db")
    assert main(["miner", HK[name], "--db", db, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_the_copy_is_caught_by_the_hashes_the_hub_lists(
    summary: dict,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    bravo, charlie, golf = (_miner(summary, n, capsys) for n in ("bravo", "charlie", "golf"))
    assert re.fullmatch(r"[0-9a-f]{64}", bravo["model_hash"])
    assert charlie["model_hash"] == bravo["model_hash"] != golf["model_hash"]
    # Each commits the Hub commit of its own repo.
    assert re.fullmatch(r"[0-9a-f]{40}", charlie["revision"])
    assert charlie["revision"] != bravo["revision"]


def test_the_model_no_engine_serves_is_released_at_each_failed_deploy_then_terminated(
    summary: dict,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    echo = _miner(summary, "echo", capsys)
    contest = [
        (e["event"], e.get("reason"))
        for e in echo["events"]
        if e["event"] in ("ChallengerReleased", "Terminated", "BattleStarted")
    ]
    assert contest == [
        ("ChallengerReleased", "deploy_failed:exited:1"),
        ("ChallengerReleased", "deploy_failed:exited:1"),
        ("Terminated", "unservable"),
    ]


def test_the_daemon_deployed_each_contender_and_tore_every_engine_down(summary: dict) -> None:  # type: ignore[type-arg]
    deployments = summary["deployments"]
    assert deployments
    for d in deployments:
        assert set(d) >= {"model", "revision", "role", "ready_s", "torn_down"}, d
        assert d["torn_down"] is True, d
        assert d["ready_s"] > 0, d
        assert re.fullmatch(r"[0-9a-f]{40}", d["revision"]), d
    by_hotkey = {d["hotkey"]: d for d in deployments}
    assert {HK["alpha"], HK["bravo"], HK["foxtrot"]} <= set(by_hotkey), deployments
    assert HK["echo"] not in by_hotkey, deployments  # never ready
    assert by_hotkey[HK["alpha"]]["model"] == next(a.model for a in CAST if a.name == "alpha")
    # The last champion served until the end; the dethroned ones were torn down as losers.
    assert by_hotkey[summary["champion"]]["reason"] == "demo ended", deployments
    assert by_hotkey[HK["alpha"]]["reason"] == "not desired", deployments


def test_no_engine_outlives_the_demo(summary: dict) -> None:  # type: ignore[type-arg]
    logs = Path(summary["directory"]) / "hosting" / "logs"
    assert len(list(logs.glob("*.log"))) >= len(summary["deployments"])
    assert engines_left(logs) == []


def test_the_plain_summary_shows_the_deployments(
    summary: dict,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    from throne.cli.demo import _print_summary

    _print_summary(summary)
    out = capsys.readouterr().out
    alpha = next(d for d in summary["deployments"] if d["hotkey"] == HK["alpha"])
    assert f"deployed {HK['alpha']} ({alpha['model']}@{alpha['revision'][:7]}) as champion" in (
        out.replace("\n", " ")
    )
    assert "torn down (demo ended)" in out.replace("\n", " ")


def test_every_dethroned_champion_is_terminated_with_its_successor_named(summary: dict) -> None:  # type: ignore[type-arg]
    terminated = {m["hotkey"]: m["reason"] for m in summary["terminated"]}
    for reign in summary["reigns"][:-1]:
        assert terminated[reign["hotkey"]] == f"dethroned_by:{reign['ended_by']}"


def test_weights_go_to_the_champion_minus_the_burn(summary: dict) -> None:  # type: ignore[type-arg]
    champion_uid = summary["reigns"][-1]["uid"]
    assert summary["weights"] == {"0": 0.05, str(champion_uid): 0.95}


def test_the_log_it_produced_passes_the_audit(summary: dict) -> None:  # type: ignore[type-arg]
    assert summary["audit"]["ok"] is True
    assert summary["audit"]["events"] > 50
    assert summary["audit"]["verdicts_checked"] >= 2


def test_the_demo_keeps_its_log_and_chain_in_the_given_directory(summary: dict) -> None:  # type: ignore[type-arg]
    directory = Path(summary["directory"])
    assert (directory / "throne.db").is_file()
    assert (directory / "chain.db").is_file()
    with pytest.raises(DemoDirectoryInUse):
        run_demo(DemoOptions(directory=directory))


def test_demo_refuses_a_used_directory_with_a_one_line_error(
    summary: dict,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--dir", summary["directory"], "--json"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("throne: error:") and "already holds a demo" in err
    assert "\n" not in err


def test_the_daemon_kept_the_read_models_up_to_date(
    summary: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The read models the daemon left in its database cover the whole log: a read-only
    reader reads them as they are, decoding no event, and they say what the demo said."""
    from throne.adapters.storage.database import parse_database_url
    from throne.cli.reads import open_log_reader
    from throne.demo.story import reigns
    from throne.projections.read_side import ReadSide

    path = str(Path(summary["directory"]) / "throne.db")
    app = open_log_reader(path)
    decoded = []
    decode = app.mapper.to_domain_event

    def counting(stored: Any) -> Any:
        decoded.append(stored)
        return decode(stored)

    monkeypatch.setattr(app.mapper, "to_domain_event", counting)
    store = parse_database_url(path).readonly().create_engine()
    reads = ReadSide(app, store=store, owns=True)
    try:
        with reads.read() as r:
            standings, history = r.standings(), r.history()
    finally:
        reads.close()
    assert decoded == []
    assert {str(k): v for k, v in standings.weights().items()} == summary["weights"]
    assert reigns(history) == summary["reigns"]
    assert {t["hotkey"] for t in history.terminations} == {
        m["hotkey"] for m in summary["terminated"]
    }


def _copy_log(summary: dict, tmp_path: Path) -> Path:  # type: ignore[type-arg]
    import sqlite3

    src = sqlite3.connect(Path(summary["directory"]) / "throne.db")
    dest = tmp_path / "copy.db"
    with sqlite3.connect(dest) as out:
        src.backup(out)
    src.close()
    return dest


def test_every_stored_response_rescores_to_its_recorded_score(
    summary: dict,  # type: ignore[type-arg]
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    db = Path(summary["directory"]) / "throne.db"
    code = main(["audit", "verify", "--db", str(db), "--rescore", "--json"])
    said = capsys.readouterr()
    assert code == 0, said.err[-4000:]
    assert json.loads(said.out)["rescored"] > 50


def test_rescoring_names_a_missing_or_altered_response(
    summary: dict,  # type: ignore[type-arg]
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sqlite3

    db = _copy_log(summary, tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE throne_responses SET body = X'789c030000000001' WHERE rowid = 1")
    assert main(["audit", "verify", "--db", str(db), "--rescore"]) == 1
    err = capsys.readouterr().err
    assert "rescore-mismatch" in err and "no longer hashes" in err
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM throne_responses WHERE rowid = 1")
    assert main(["audit", "verify", "--db", str(db), "--rescore"]) == 1
    assert "is missing" in capsys.readouterr().err


def test_rescoring_catches_a_score_the_environment_does_not_give(summary: dict) -> None:  # type: ignore[type-arg]
    from throne.adapters.storage.database import parse_database_url
    from throne.audit.format import AuditError
    from throne.audit.rescore import rescore_database
    from throne.envs.base import Evaluation
    from throne.envs.registry import environments

    class Contrary:
        def __init__(self, env: Any) -> None:
            self._env = env

        def task(self, task_id: int) -> Any:
            return self._env.task(task_id)

        def evaluate(self, task: Any, response: str) -> Evaluation:
            real = self._env.evaluate(task, response)
            return Evaluation(1.0 - real.score, "contrary")

    envs = {name: Contrary(env) for name, env in environments().items()}
    db = parse_database_url(str(Path(summary["directory"]) / "throne.db"))
    with pytest.raises(AuditError, match="recorded score") as one_thread:
        rescore_database(db, envs, jobs=1)  # type: ignore[arg-type]
    # Evaluated on several threads, the mismatch named is still the first in the log.
    with pytest.raises(AuditError) as four_threads:
        rescore_database(db, envs, jobs=4)  # type: ignore[arg-type]
    assert str(four_threads.value) == str(one_thread.value)


def test_rescoring_on_threads_reports_progress_and_counts_every_response(
    summary: dict,  # type: ignore[type-arg]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from throne.adapters.storage.database import parse_database_url
    from throne.audit import rescore
    from throne.audit.rescore import rescore_database

    monkeypatch.setattr(rescore, "PROGRESS_EVERY", 50)
    from throne.envs.registry import environments

    db = parse_database_url(str(Path(summary["directory"]) / "throne.db"))
    seen: list[tuple[int, int]] = []
    threaded = rescore_database(db, environments(), jobs=4, progress=lambda *p: seen.append(p))
    alone = rescore_database(db, environments(), jobs=1)
    assert threaded.rescored == alone.rescored > 50
    assert seen and [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert all(done <= total for done, total in seen)
