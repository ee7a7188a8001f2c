from pathlib import Path

from tests.support.contest import Driver, small_config
from throne.adapters.chain.local import LocalChain
from throne.daemon.pool_seed import load_or_create_secret, pool_seed
from throne.daemon.weight_setter import WeightSetter


def test_pool_seeds_are_reproducible_per_pool_and_secret(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path / "s")
    assert load_or_create_secret(tmp_path / "s") == secret
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o600
    assert pool_seed(secret, 120, 1) == pool_seed(secret, 120, 1)
    assert pool_seed(secret, 120, 1) != pool_seed(secret, 120, 2)
    assert pool_seed(secret, 120, 1) != pool_seed(bytes(32), 120, 1)


def _world(tmp_path: Path) -> tuple[Driver, LocalChain]:
    chain = LocalChain.init(tmp_path / "c.db", clock_mode="manual", weights_rate_limit=10)
    chain.register(120, "owner")  # uid 0, where the burn goes
    d = Driver(small_config(burn=0.2))
    d.join("champ", block=1, uid=chain.register(120, "champ"))
    d.sync()
    d.tick(2)
    d.tick(3)
    return d, chain


def test_an_unregistered_validator_sets_no_weights(tmp_path: Path) -> None:
    d, chain = _world(tmp_path)
    setter = WeightSetter(d.app, chain.as_signer("val"), netuid=120, interval=5, version_key=0)
    assert setter.maybe_submit(chain.current_block()) is None
    assert d.app.last_weights_block() is None


def test_weights_are_submitted_once_allowed_and_recorded_exactly(tmp_path: Path) -> None:
    d, chain = _world(tmp_path)
    chain.register(120, "val")
    setter = WeightSetter(d.app, chain.as_signer("val"), netuid=120, interval=5, version_key=0)
    assert setter.maybe_submit(chain.current_block()) is None  # rate limit after registering
    chain.advance(10)
    sub = setter.maybe_submit(chain.current_block())
    assert sub is not None and sub.ok
    champ_uid = d.miner("champ")["uid"]  # type: ignore[index]
    assert dict(sub.intended) == {champ_uid: 0.8, 0: 0.2}
    last = list(d.app.events.get(d.app.ledger_id))[-1]
    assert last.weights == {str(champ_uid): 0.8, "0": 0.2}
    assert sorted(map(tuple, last.u16)) == sorted(sub.sent)
    assert d.app.last_weights_block() == sub.block
    assert setter.maybe_submit(chain.current_block()) is None  # not due again yet
