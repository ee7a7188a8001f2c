"""Every ModelHub adapter answers alike: known pairs with their hash, nothing else, no errors,
and a known pair is never invalid."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from tests.support.clock import FakeClock
from tests.support.fake_hub import FakeHub, lfs_file
from throne.adapters.hub import HuggingFaceHub
from throne.adapters.hub.fixed import NoModelHub, StaticModelHub
from throne.ports.model_hub import ModelHub

WEIGHTS = b"the weights"
KNOWN_HASH = hashlib.sha256(hashlib.sha256(WEIGHTS).hexdigest().encode()).hexdigest()
UNKNOWN = ("org/affine-unpublished", "f" * 40)


@pytest.fixture(params=["static", "huggingface"])
def hub_and_known(request: pytest.FixtureRequest) -> Iterator[tuple[ModelHub, tuple[str, str]]]:
    if request.param == "static":
        known = ("org/affine-known", "e" * 40)
        yield StaticModelHub({known: KNOWN_HASH}), known
        return
    with FakeHub() as fake:
        known = ("org/affine-known", fake.publish("org/affine-known", [lfs_file("m.bin", WEIGHTS)]))
        yield HuggingFaceHub(fake.url, clock=FakeClock()), known


def test_nothing_asked_nothing_answered(hub_and_known: tuple[ModelHub, tuple[str, str]]) -> None:
    hub, _ = hub_and_known
    assert hub.model_hashes([]) == []


def test_only_known_pairs_come_back_with_their_hash(
    hub_and_known: tuple[ModelHub, tuple[str, str]],
) -> None:
    hub, known = hub_and_known
    assert hub.model_hashes([UNKNOWN, known]) == [(*known, KNOWN_HASH)]
    assert hub.model_hashes([UNKNOWN]) == []
    assert hub.model_hashes(iter([known])) == [(*known, KNOWN_HASH)]


def test_a_known_pair_is_not_invalid_and_asking_costs_no_request(
    hub_and_known: tuple[ModelHub, tuple[str, str]],
) -> None:
    hub, known = hub_and_known
    assert hub.invalid_models([]) == []
    hub.model_hashes([known])
    assert hub.invalid_models([known]) == []
    assert hub.invalid_models(iter([known, known])) == []


def test_no_hub_knows_nothing_invalid() -> None:
    assert NoModelHub().invalid_models([UNKNOWN, ("org/affine-x", "main")]) == []
    assert NoModelHub().model_hashes([UNKNOWN]) == []
