"""The `ModelHub` port: where model hashes come from, for the copy rule, and which committed
models can never be served.

The copy rule invalidates a miner whose weights are the same as an earlier committer's. The hash
of a ``(model, revision)`` is the model hub's business: the daemon asks a `ModelHub` on every
chain sync and hands what it learns to the contest inside the chain snapshot. The same lookups
teach the hub's validity rules (a repo gated, private, disabled or gone, a revision that is not
a commit), which invalidate the miners on such a pair for good.
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

    def invalid_models(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """``(model, revision, reason)`` for every given pair that breaks a validity rule for
        good, from what `model_hashes` has learnt (no request of its own). Reasons: "repo is
        gated", "repo not found or private", "repo is disabled", "revision not found" (only
        once the hub has said so for a grace period), "revision is not a full commit sha". A
        transient failure (hub down, overloaded, slow) never makes a pair invalid."""
