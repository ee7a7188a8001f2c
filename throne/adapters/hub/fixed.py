"""Model hubs that ask no one: none at all, and a fixed map."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from throne.ports.model_hub import ModelHub


class NoModelHub(ModelHub):
    """No hub reachable: hashes stay unknown, so copies are not detected, and no model is
    known to be invalid."""

    def model_hashes(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        return []

    def invalid_models(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        return []


class StaticModelHub(ModelHub):
    """A fixed map ``{(model, revision): hash}`` (local miners, tests)."""

    def __init__(self, hashes: Mapping[tuple[str, str], str]) -> None:
        self._hashes = dict(hashes)

    def model_hashes(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        return [(m, r, self._hashes[(m, r)]) for m, r in models if (m, r) in self._hashes]

    def invalid_models(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """Nothing: the map's models are local ones, served as they are."""
        return []
