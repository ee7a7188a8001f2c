"""Where model hashes come from, for the copy rule (same weights as an earlier committer).

The hash of a (model, revision) is the model hub's business: the daemon asks a `ModelHub` and
hands what it learns to the contest inside the chain snapshot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping


class ModelHub(ABC):
    @abstractmethod
    def model_hashes(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """``(model, revision, hash)`` for every given pair whose hash is known."""


class NoModelHub(ModelHub):
    """No hub reachable: hashes stay unknown, so copies are not detected."""

    def model_hashes(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        return []


class StaticModelHub(ModelHub):
    """A fixed map ``{(model, revision): hash}`` (local miners, tests)."""

    def __init__(self, hashes: Mapping[tuple[str, str], str]) -> None:
        self._hashes = dict(hashes)

    def model_hashes(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        return [(m, r, self._hashes[(m, r)]) for m, r in models if (m, r) in self._hashes]
