"""The daemon with SAT, ABD and DED served by `throne env serve` over loopback: the same
miners get exactly the verdicts of the in-process run, every sample's score is the same, and the
audit re-scores the conversations the services returned."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.daemon.cluster import (
    World,
    decisions,
    make_world,
    settled,
    start_daemon,
    stop,
    wait_until,
)
from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.responses import SqlResponseStore
from throne.audit.sources import DatabaseLog
from throne.audit.stored import iter_notifications, opened_log, parse_state
from throne.audit.verification import Rescoring, verify
from throne.demo.env_servers import env_servers
from throne.domain.contest.scorecard import Scorecard
from throne.envs.registry import environments

SECRET = bytes(range(32))
ENVS = ("SAT", "ABD", "DED")


def _run(world: World, log: Path) -> None:
    proc = start_daemon(world, log)
    try:
        assert wait_until(lambda: settled(world), 180), log.read_text()[-3000:]
    finally:
        assert stop(proc) == 0


def _scores(world: World) -> dict[tuple[str, int, str], tuple[str, float]]:
    """Every sample's outcome and score, by (env, task id, hotkey)."""
    return {k: (outcome, score) for k, (outcome, score, _) in _samples(world).items()}


def _samples(world: World) -> dict[tuple[str, int, str], tuple[str, float, str]]:
    out = {}
    with opened_log(parse_database_url(world.db_url).readonly()) as recorder:
        for n in iter_notifications(recorder):
            if n.topic == Scorecard.SampleScored.TOPIC:
                p = parse_state(n.state)
                key = (p["env"], p["task_id"], p["hotkey"])
                out[key] = (p["outcome"], p["score"], p["response_digest"])
    return out


def _transcripts(world: World, env: str | None = None) -> list[bytes]:
    """The stored transcript of every sample (of ``env``'s)."""
    engine = parse_database_url(world.db_url).create_engine()
    try:
        store = SqlResponseStore(engine, create_table=False)
        samples = _samples(world).items()
        return [store.get(d) for k, (_, _, d) in samples if env is None or k[0] == env]
    finally:
        engine.dispose()


def test_every_env_remote_gives_the_verdicts_of_the_in_process_run(
    tmp_path: Path, miners: str
) -> None:
    local = make_world(tmp_path / "local", miners, SECRET)
    _run(local, tmp_path / "local.log")

    with env_servers(ENVS, tmp_path / "servers") as urls:
        tables = {name: {"url": url, "timeout": 60} for name, url in urls.items()}
        remote = make_world(tmp_path / "remote", miners, SECRET, env_tables=tables)
        _run(remote, tmp_path / "remote.log")

    with local.app() as a, remote.app() as b:
        assert decisions(b) == decisions(a)
        assert len(decisions(a)) == 3
    here, there = _scores(local), _scores(remote)
    common = here.keys() & there.keys()
    assert len(common) >= 0.8 * len(here)  # both sampled the same pool
    assert {k: there[k] for k in common} == {k: here[k] for k in common}
    assert {outcome for outcome, _ in there.values()} == {"ok"}
    # Every env was asked remotely: the log's samples cover all three, and the stored
    # transcripts are the services' conversations (in-process: the bare answers), which the
    # audit re-scores.
    assert {env for env, _, _ in there} == set(ENVS)
    assert all(t.startswith(b'[{"role":"user"') for t in _transcripts(remote))
    assert not any(t.startswith(b'[{"role":"user"') for t in _transcripts(local))
    report = verify(
        DatabaseLog(parse_database_url(remote.db_url)),
        rescore=Rescoring(environments()),
    )
    assert report.rescored is not None
    assert report.rescored.rescored == len(there)
    assert report.rescored.skipped_not_installed == 0


def test_a_multi_turn_env_played_over_the_protocol_gives_the_in_process_verdicts(
    tmp_path: Path, miners: str
) -> None:
    envs = ["SAT", "GUESS"]
    local = make_world(tmp_path / "local", miners, SECRET, envs=envs)
    _run(local, tmp_path / "local.log")

    with env_servers(["GUESS"], tmp_path / "servers") as urls:
        tables = {"GUESS": {"url": urls["GUESS"], "interface": "interactive", "timeout": 60}}
        remote = make_world(tmp_path / "remote", miners, SECRET, env_tables=tables, envs=envs)
        _run(remote, tmp_path / "remote.log")

    with local.app() as a, remote.app() as b:
        assert decisions(b) == decisions(a)
        assert len(decisions(a)) == 3
    here, there = _scores(local), _scores(remote)
    guess = {k: v for k, v in there.items() if k[0] == "GUESS"}
    assert guess and {k: here[k] for k in guess if k in here} == {
        k: v for k, v in guess.items() if k in here
    }
    # Episodes were played turn by turn: each GUESS transcript is a conversation of turns,
    # ending with the env's last word.
    conversations = [json.loads(t) for t in _transcripts(remote, env="GUESS")]
    assert len(conversations) == len(guess)
    for c in conversations:
        assert c[0]["content"].startswith("Guess the number") and c[-1]["role"] == "user"
        assert [m["role"] for m in c[:3]] == ["user", "assistant", "user"]
