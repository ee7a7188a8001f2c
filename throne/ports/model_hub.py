"""The `ModelHub` port: where model hashes come from, for the copy rule.

The copy rule invalidates a miner whose weights are the same as an earlier committer's. The hash
of a ``(model, revision)`` is the model hub's business: the daemon asks a `ModelHub` on every
chain sync and hands what it learns to the contest inside the chain snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class ModelHub(Protocol):
    """Hashes of committed models. Adapters: `HuggingFaceHub` (the Hub's API), `StaticModelHub`
    (a fixed map, for local miners) and `NoModelHub` (no hub: nothing is known)."""

    def model_hashes(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """``(model, revision, hash)`` for every given pair whose hash is known. A pair whose
        hash cannot be learnt now is left out (the daemon asks again later): never an error."""
