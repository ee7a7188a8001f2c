"""`audit verify --onchain`: the validator's weights on chain against the log's last submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.support.contest import Driver, small_config
from throne.adapters.chain.local import LocalChain
from throne.adapters.storage.database import parse_database_url
from throne.application import ThroneApplication
from throne.audit.format import AuditError
from throne.audit.onchain import check_onchain
from throne.audit.replay import ReplaySummary
from throne.cli.main import main
from throne.daemon.weight_setter import WeightSetter
from throne.ports.chain import OnchainWeights


def landed(u16: list[list[int]], netuid: int = 120) -> ReplaySummary:
    return ReplaySummary(
        netuid=netuid, last_landed={"netuid": netuid, "block": 40, "id": 9, "u16": u16}
    )


def test_the_row_on_chain_must_be_the_last_vector_that_landed() -> None:
    row = OnchainWeights(120, 55, 3, ((0, 13107), (1, 65535)))
    check = check_onchain(landed([[1, 65535], [0, 13107]]), row)
    assert (check.submission_block, check.submission_id, check.validator_uid) == (40, 9, 3)
    with pytest.raises(AuditError) as exc:
        check_onchain(landed([[1, 65535]]), row)
    assert exc.value.kind == "chain-mismatch"
    assert "block 40, id 9" in str(exc.value) and "[[0, 13107], [1, 65535]]" in str(exc.value)
    with pytest.raises(AuditError, match="not 120"):
        check_onchain(landed([[0, 13107], [1, 65535]], netuid=7), row)


def test_weights_on_chain_that_no_landed_submission_explains_are_a_mismatch() -> None:
    empty = OnchainWeights(120, 55, 3, ())
    assert check_onchain(ReplaySummary(netuid=120), empty).submission_block is None
    with pytest.raises(AuditError, match="records no submission that landed"):
        check_onchain(ReplaySummary(netuid=120), OnchainWeights(120, 55, 3, ((1, 65535),)))


class World(NamedTuple):
    db: Path
    chain_db: Path
    chain: LocalChain
    block: int  # of the one submission
    driver: Driver  # the contest's own view of the chain, to go on with the story


@pytest.fixture
def world(tmp_path: Path) -> World:
    """A log whose validator ("val") has set its weights once on a local chain."""
    chain = LocalChain.init(tmp_path / "chain.db", clock_mode="manual", weights_rate_limit=10)
    chain.register(120, "owner")  # uid 0, where the burn goes
    db = tmp_path / "log.db"
    config = small_config(burn=0.2)
    app = ThroneApplication(config, env=parse_database_url(str(db)).eventsourcing_env())
    d = Driver(config, app=app)
    d.join("champ", block=1, uid=chain.register(120, "champ"))
    d.sync()
    d.tick(2)
    d.tick(3)
    chain.register(120, "val")
    chain.advance(10)
    setter = WeightSetter(app, chain.as_signer("val"), netuid=120, interval=5, version_key=0)
    sub = setter.maybe_submit(chain.current_block())
    app.close()
    assert sub is not None and sub.ok
    return World(db, tmp_path / "chain.db", chain, sub.block, d)


def validators_row(world: World) -> list[str]:
    """Verify the world's log with the validator's (uid 2) weights on its chain."""
    return [
        "--db",
        str(world.db),
        "--onchain",
        "--chain-db",
        str(world.chain_db),
        "--validator-uid",
        "2",
    ]


def verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    code = main(["audit", "verify", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def test_a_log_and_its_chain_agree(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, chain_db, _, block, _ = world
    on_chain = ["--onchain", "--chain-db", str(chain_db)]
    code, report, err = verify(capsys, "--db", str(db), *on_chain, "--validator-hotkey", "val")
    assert code == 0, err
    assert report["onchain"]["submission_block"] == block
    assert report["onchain"]["validator_uid"] == 2
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    export = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--db", str(db), "--out", str(export)]) == 0
    capsys.readouterr()
    code, report, err = verify(capsys, str(export), *on_chain, "--validator-uid", "2")
    assert code == 0, err
    assert report["onchain"]["u16"] == [[0, 16384], [1, 65535]]


def test_weights_set_outside_the_log_are_caught(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, chain, _, _ = world
    chain.advance(10)
    assert chain.as_signer("val").set_weights(120, {1: 1.0}, 0).ok
    code, report, err = verify(capsys, *validators_row(world))
    assert code == 1 and report["kind"] == "chain-mismatch"
    assert "does not explain" in err and err.count("\n") == 1


def test_the_validator_must_be_named_or_found(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    db, chain_db, _, _, _ = world
    on_chain = ["--onchain", "--chain-db", str(chain_db)]
    code, _, err = verify(capsys, "--db", str(db), *on_chain)
    assert code == 1 and "--validator-uid" in err and err.count("\n") == 1
    code, _, err = verify(capsys, "--db", str(db), *on_chain, "--validator-hotkey", "nobody")
    assert code == 1 and "nobody is not registered on subnet 120" in err
    code, _, err = verify(capsys, "--db", str(db), "--validator-uid", "2")
    assert code == 1 and "go with --onchain" in err


def test_the_summary_table_says_what_the_chain_holds(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, _, block, _ = world
    argv = validators_row(world)
    assert main(["audit", "verify", *argv]) == 0
    out = capsys.readouterr().out
    assert f"uid 2, block {block}: match the last landed submission (block {block})" in out


def ledger_events(db: Path) -> list[object]:
    app = ThroneApplication(
        small_config(burn=0.2), env=parse_database_url(str(db)).eventsourcing_env()
    )
    try:
        return list(app.events.get(app.ledger_id))
    finally:
        app.close()


def setter_on(db: Path, chain: LocalChain) -> tuple[ThroneApplication, WeightSetter]:
    app = ThroneApplication(
        small_config(burn=0.2), env=parse_database_url(str(db)).eventsourcing_env()
    )
    return app, WeightSetter(app, chain.as_signer("val"), netuid=120, interval=5, version_key=0)


def test_a_submission_the_log_lost_is_recovered_from_the_chain(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, chain, _, d = world
    on_chain = validators_row(world)
    # The champion leaves the subnet: the contest now gives everything to uid 0.
    app, setter = setter_on(db, chain)
    d.app = app
    del d.chain.neurons["champ"]
    d.sync()
    _, weights = app.weights()
    assert weights == {0: 1.0}
    before = len(ledger_events(db))
    # The chain takes that vector and the validator stops before recording it.
    chain.advance(10)
    assert chain.as_signer("val").set_weights(120, weights, 0).ok
    app.close()
    code, report, _ = verify(capsys, *on_chain)
    assert code == 1 and report["kind"] == "chain-mismatch"
    # At its next start the weight setter finds it on chain and records it as recovered.
    app, setter = setter_on(db, chain)
    setter.maybe_submit(chain.current_block())
    app.close()
    capsys.readouterr()  # the setter's log lines
    recovered = ledger_events(db)[before]
    assert recovered.error.startswith("recovered")  # type: ignore[attr-defined]
    assert recovered.u16 == [[0, 65535]] and recovered.extrinsic is None  # type: ignore[attr-defined]
    code, report, err = verify(capsys, *on_chain)
    assert code == 0, err
    assert report["weights_checked"] >= 2  # the recovered record is recomputed like any other


def test_weights_on_chain_that_no_recent_contest_version_gives_are_never_recorded(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, chain, _, _ = world
    chain.advance(10)
    # uid 0 alone is what the contest gave before its first champion: older than the last
    # recorded submission, so not a lost one.
    assert chain.as_signer("val").set_weights(120, {0: 1.0}, 0).ok
    before = len(ledger_events(db))
    app, setter = setter_on(db, chain)
    try:
        assert setter.reconcile(2, chain.current_block()) is False
    finally:
        app.close()
    capsys.readouterr()  # the setter's log lines
    assert len(ledger_events(db)) == before
    code, report, _ = verify(capsys, *validators_row(world))
    assert code == 1 and report["kind"] == "chain-mismatch"


def test_nothing_is_recovered_when_the_chain_holds_what_the_log_recorded(
    world: World,
) -> None:
    db, _, chain, _, _ = world
    before = len(ledger_events(db))
    app, setter = setter_on(db, chain)
    try:
        assert setter.reconcile(2, chain.current_block()) is False
    finally:
        app.close()
    assert len(ledger_events(db)) == before
