"""What the contest reads from the chain: plain records, pinned to one block.

The chain adapters produce these; the queue turns them into `Committed`, `Invalidated` and
deregistration facts. Nothing here talks to a chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CommitmentStatus = Literal["plain", "sealed", "revealed", "failed"]


@dataclass(frozen=True)
class Neuron:
    """A registered hotkey and the uid it sits at now (uids recycle; identity is the hotkey)."""

    uid: int
    hotkey: str


@dataclass(frozen=True)
class Commitment:
    """The latest commitment of a hotkey: the block it took effect at and its raw text.

    ``status`` is ``revealed`` or ``plain`` for readable commitments; ``sealed`` ones are not yet
    readable and ``failed`` ones never will be.
    """

    hotkey: str
    block: int
    text: str
    status: CommitmentStatus = "plain"


@dataclass(frozen=True)
class ChainSnapshot:
    """Neurons and commitments of one subnet as of ``block``."""

    block: int
    neurons: tuple[Neuron, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    #: model hashes known for (model, revision) pairs, e.g. from the model hub; optional.
    model_hashes: tuple[tuple[str, str, str], ...] = field(default=())
    #: (model, revision, reason) pairs that break a model hub's validity rule for good
    model_invalid: tuple[tuple[str, str, str], ...] = field(default=())

    def uid_of(self, hotkey: str) -> int | None:
        for n in self.neurons:
            if n.hotkey == hotkey:
                return n.uid
        return None
