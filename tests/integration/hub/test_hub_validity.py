"""The Hub's validity rules, learnt by `HuggingFaceHub` from the lookups it makes for the model
hashes: what is invalid for good, after how long, and what never is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.clock import FakeClock
from tests.support.fake_hub import FakeHub, Fault, lfs_file
from tests.support.ports import refusing_port
from throne.adapters.hub import HuggingFaceHub

RETRY = 600.0
MISSING_RETRY = 6 * RETRY


@pytest.fixture
def fake() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub


def hub_for(fake: FakeHub, clock: FakeClock, grace: float = 900.0) -> HuggingFaceHub:
    return HuggingFaceHub(
        fake.url, clock=clock, timeout=2.0, retry_after_failure=RETRY, revision_grace=grace
    )


def weights(fake: FakeHub, repo: str) -> str:
    return fake.publish(repo, [lfs_file("model.safetensors", repo.encode())])


def test_a_gated_disabled_private_or_missing_repo_is_invalid_at_its_first_answer(
    fake: FakeHub,
) -> None:
    gated = weights(fake, "org/affine-gated")
    fake.gated["org/affine-gated"] = "auto"
    disabled = weights(fake, "org/affine-off")
    fake.disabled.add("org/affine-off")
    private = weights(fake, "org/affine-private")
    fake.private.add("org/affine-private")
    ok = weights(fake, "org/affine-ok")
    pairs = [
        ("org/affine-gated", gated),
        ("org/affine-off", disabled),
        ("org/affine-private", private),
        ("org/affine-gone", "a" * 40),
        ("org/affine-ok", ok),
    ]
    hub = hub_for(fake, FakeClock())
    assert hub.invalid_models(pairs) == []  # nothing learnt yet, and nothing asked
    assert fake.seen == []
    hashes = hub.model_hashes(pairs)
    asked = len(fake.seen)
    assert sorted(hub.invalid_models(pairs)) == [
        ("org/affine-gated", gated, "repo is gated"),
        ("org/affine-gone", "a" * 40, "repo not found or private"),
        ("org/affine-off", disabled, "repo is disabled"),
        ("org/affine-private", private, "repo not found or private"),
    ]
    assert len(fake.seen) == asked  # no request of its own
    assert {m for m, _, _ in hashes} == {"org/affine-gated", "org/affine-ok"}


def test_a_gated_refusal_is_invalid_too(fake: FakeHub) -> None:
    sha = weights(fake, "org/affine-x")
    fake.faults["org/affine-x"] = Fault(403, headers={"X-Error-Code": "GatedRepo"})
    hub = hub_for(fake, FakeClock())
    hub.model_hashes([("org/affine-x", sha)])
    assert hub.invalid_models([("org/affine-x", sha)]) == [("org/affine-x", sha, "repo is gated")]


@pytest.mark.parametrize("revision", ["main", "abc1234", "A" * 40, ""])
def test_a_revision_that_is_not_a_full_commit_sha_is_invalid_at_once(
    fake: FakeHub, revision: str
) -> None:
    weights(fake, "org/affine-x")
    hub = hub_for(fake, FakeClock())
    assert hub.invalid_models([("org/affine-x", revision)]) == [
        ("org/affine-x", revision, "revision is not a full commit sha")
    ]
    assert fake.seen == []


def test_a_missing_revision_is_invalid_only_after_the_grace(fake: FakeHub) -> None:
    weights(fake, "org/affine-x")
    pair = ("org/affine-x", "b" * 40)
    clock = FakeClock()
    hub = hub_for(fake, clock, grace=900.0)
    hub.model_hashes([pair])
    assert hub.invalid_models([pair]) == []  # said once: maybe not shown yet
    clock.advance(MISSING_RETRY + 1)
    hub.model_hashes([pair])
    assert fake.requests_for("org/affine-x") == 2
    assert hub.invalid_models([pair]) == [(*pair, "revision not found")]


def test_a_revision_that_shows_up_within_the_grace_is_never_invalid(fake: FakeHub) -> None:
    clock = FakeClock()
    hub = HuggingFaceHub(
        fake.url, clock=clock, timeout=2.0, retry_after_failure=10.0, revision_grace=900.0
    )
    weights(fake, "org/affine-x")
    late = fake.publish("org/affine-x", [lfs_file("model.safetensors", b"pushed late")])
    pushed = fake.commits.pop(("org/affine-x", late))
    hub.model_hashes([("org/affine-x", late)])
    clock.advance(6 * 10.0 + 1)
    fake.commits[("org/affine-x", late)] = pushed
    assert hub.model_hashes([("org/affine-x", late)]) != []
    clock.advance(900.0)
    hub.model_hashes([("org/affine-x", late)])
    assert hub.invalid_models([("org/affine-x", late)]) == []


def test_a_transient_answer_neither_invalidates_nor_ends_the_grace(fake: FakeHub) -> None:
    weights(fake, "org/affine-x")
    pair = ("org/affine-x", "b" * 40)
    clock = FakeClock()
    hub = HuggingFaceHub(
        fake.url, clock=clock, timeout=2.0, retry_after_failure=100.0, revision_grace=900.0
    )
    hub.model_hashes([pair])  # not found: the grace starts
    for status in (500, 503, 429):
        clock.advance(601)
        fake.faults["org/affine-x"] = Fault(status)
        hub.model_hashes([pair])
        assert hub.invalid_models([pair]) == []
    del fake.faults["org/affine-x"]
    clock.advance(601)
    hub.model_hashes([pair])
    assert hub.invalid_models([pair]) == [(*pair, "revision not found")]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_an_unwell_hub_invalidates_no_one(fake: FakeHub, status: int) -> None:
    sha = weights(fake, "org/affine-x")
    fake.faults["org/affine-x"] = Fault(status)
    clock = FakeClock()
    hub = hub_for(fake, clock, grace=0.0)
    for _ in range(3):
        hub.model_hashes([("org/affine-x", sha)])
        clock.advance(MISSING_RETRY + 1)
    assert fake.requests_for("org/affine-x") == 3
    assert hub.invalid_models([("org/affine-x", sha)]) == []


def test_an_unreachable_or_slow_hub_invalidates_no_one(fake: FakeHub) -> None:
    sha = weights(fake, "org/affine-x")
    fake.delays["org/affine-x"] = 30.0
    clock = FakeClock()
    slow = HuggingFaceHub(fake.url, clock=clock, timeout=0.3, revision_grace=0.0)
    slow.model_hashes([("org/affine-x", sha)])
    assert slow.invalid_models([("org/affine-x", sha)]) == []
    with refusing_port() as port:
        down = HuggingFaceHub(f"http://127.0.0.1:{port}", clock=clock, revision_grace=0.0)
        down.model_hashes([("org/affine-x", sha)])
        assert down.invalid_models([("org/affine-x", sha)]) == []
