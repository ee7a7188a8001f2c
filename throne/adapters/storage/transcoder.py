"""`OrjsonTranscoder`: eventsourcing's JSON transcoding, encoded by orjson; and the
transcodings of the domain's records (`domain_transcodings`).

Encoding an event's state is most of the CPU time of a batched save, and orjson encodes a
``SampleScored`` about three times faster than the standard library. It writes the same JSON:
compact separators, UTF-8 rather than escapes, and every object JSON has no type for handed to
the registered transcodings as ``{"_type_": ..., "_data_": ...}`` (only a float's spelling may
differ, ``1e16`` for ``1e+16``, never its value). Decoding is the standard library's,
unchanged, so every log ever written reads the same.

orjson would write a few things differently from the standard encoder: a UUID as a plain
string (it has no option to hand UUIDs on), NaN and infinities as ``null``, integers beyond 64
bits not at all, keys that are not strings not at all. Whenever the output might hold one of
these (it contains ``null`` or a quoted UUID) or orjson refuses, the standard encoder writes
the state instead, so the result always means exactly what it would have written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from eventsourcing.persistence import JSONTranscoder, Transcoding

from throne.domain.contest.config import ContestConfig
from throne.domain.contest.operator import Operations
from throne.domain.contest.rules import Verdict
from throne.domain.contest.state import Battle, Champion, DecisionInputs, MinerRef, Pool
from throne.domain.queue.miners import MinerRecord

T = TypeVar("T")

# Objects orjson would otherwise write itself go to ``default``, as with the standard encoder.
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# How orjson writes a uuid.UUID: where this appears, the state may have held one.
_QUOTED_UUID = re.compile(rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')


class OrjsonTranscoder(JSONTranscoder):
    """A `JSONTranscoder` whose encoding is done by orjson where that gives the same JSON."""

    def encode(self, obj: Any) -> bytes:
        try:
            encoded = orjson.dumps(obj, default=self._encode_obj, option=_OPTIONS)
        except orjson.JSONEncodeError:
            # Unsupported by orjson, or by the transcodings: the standard encoder decides,
            # raising what it would have raised.
            return super().encode(obj)
        if b"null" in encoded or _QUOTED_UUID.search(encoded):
            return super().encode(obj)
        return encoded


class RecordAsDict(Transcoding):
    """A domain record stored as the plain dict its ``to_dict`` gives, read back by
    ``from_dict``. ``name`` is written into every stored event: it never changes."""

    def __init__(
        self,
        kind: type[T],
        name: str,
        to_dict: Callable[[T], object],
        from_dict: Callable[[Any], T],
    ) -> None:
        self.type = kind
        self.name = name
        self._to_dict = to_dict
        self._from_dict = from_dict

    def encode(self, obj: Any) -> object:
        return self._to_dict(obj)

    def decode(self, data: Any) -> Any:
        return self._from_dict(data)


def domain_transcodings() -> list[Transcoding]:
    """The transcodings of every record the contest's events and snapshots carry."""
    return [
        RecordAsDict(
            ContestConfig, "contest_config", ContestConfig.to_dict, ContestConfig.from_dict
        ),
        RecordAsDict(Verdict, "verdict", Verdict.to_dict, Verdict.from_dict),
        RecordAsDict(
            DecisionInputs, "decision_inputs", DecisionInputs.to_dict, DecisionInputs.from_dict
        ),
        RecordAsDict(MinerRef, "miner_ref", MinerRef.to_dict, MinerRef.from_dict),
        RecordAsDict(Champion, "champion", Champion.to_dict, Champion.from_dict),
        RecordAsDict(Battle, "battle", Battle.to_dict, Battle.from_dict),
        RecordAsDict(Pool, "pool", Pool.to_dict, Pool.from_dict),
        RecordAsDict(MinerRecord, "miner", MinerRecord.row, MinerRecord.from_row),
        RecordAsDict(Operations, "operations", Operations.to_dict, Operations.from_dict),
    ]
