"""The `WorkClaims` contract, on each backend of SqlWorkClaims (SQLite, PostgreSQL): one holder
per item until it expires."""

from __future__ import annotations

import threading

from tests.support.clock import FakeClock
from throne.adapters.storage.claims import SqlWorkClaims
from throne.adapters.storage.database import parse_database_url


def _claims(db_url: str, worker: str, clock: FakeClock) -> SqlWorkClaims:
    engine = parse_database_url(db_url).create_engine()
    return SqlWorkClaims(engine, worker, ttl_seconds=60, clock=clock)


def test_an_item_has_one_holder_until_its_claim_expires(db_url: str) -> None:
    clock = FakeClock()
    a, b = _claims(db_url, "a", clock), _claims(db_url, "b", clock)
    assert a.claim(["k1", "k2"]) == ["k1", "k2"]
    assert b.claim(["k1", "k2", "k3"]) == ["k3"]
    assert a.claim(["k1"]) == ["k1"]  # renewing one's own claim
    clock.now += 61
    assert b.claim(["k1"]) == ["k1"]  # a's claim expired: b takes it over
    assert a.claim(["k1"]) == []


def test_released_items_can_be_claimed_by_others(db_url: str) -> None:
    clock = FakeClock()
    a, b = _claims(db_url, "a", clock), _claims(db_url, "b", clock)
    a.claim(["k1", "k2"])
    b.release(["k1"])  # releasing another's claim does nothing
    assert b.claim(["k1"]) == []
    a.release(["k1"])
    assert b.claim(["k1"]) == ["k1"]
    clock.now += 61
    assert a.purge_expired() == 2


def test_racing_workers_split_the_items_without_overlap(db_url: str) -> None:
    clock = FakeClock()
    workers = [_claims(db_url, f"w{i}", clock) for i in range(4)]
    keys = [f"k{i}" for i in range(200)]
    got: dict[str, list[str]] = {}

    def grab(w: SqlWorkClaims) -> None:
        got[w.worker] = w.claim(keys)

    threads = [threading.Thread(target=grab, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [k for ks in got.values() for k in ks]
    assert sorted(claimed) == sorted(keys)


def test_claimers_hammering_overlapping_work_never_deadlock(db_url: str) -> None:
    # Each round takes a random half of the keys in a random order and gives back a random half
    # of what it got, also shuffled: the orders that deadlocked PostgreSQL's upserts.
    import random
    import time

    keys = [f"1|SAT|{i}|5Hot{i % 7}|r1|0" for i in range(40)]
    errors: list[str] = []
    claimed: dict[str, int] = {}

    def hammer(claims: SqlWorkClaims) -> None:
        name = claims.worker
        rng = random.Random(name)
        for _ in range(60):
            try:
                got = claims.claim(rng.sample(keys, 20))
                claimed[name] = claimed.get(name, 0) + len(got)
                claims.release(rng.sample(got, len(got) // 2))
            except Exception as exc:
                errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        claims.release(keys)

    engine = parse_database_url(db_url).create_engine
    workers = [
        SqlWorkClaims(engine(), f"w{i}", ttl_seconds=0.05, clock=time.time) for i in range(3)
    ]
    threads = [threading.Thread(target=hammer, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(claimed.get(f"w{i}", 0) > 0 for i in range(3))
    fresh = _claims(db_url, "fresh", FakeClock())
    assert fresh.claim(keys) == keys


def test_a_claim_answers_in_the_order_asked_and_once_per_key(db_url: str) -> None:
    clock = FakeClock()
    a = _claims(db_url, "a", clock)
    assert a.claim(["k3", "k1", "k3", "k2"]) == ["k3", "k1", "k2"]
    b = _claims(db_url, "b", clock)
    assert b.claim(["k9", "k2", "k8"]) == ["k9", "k8"]
