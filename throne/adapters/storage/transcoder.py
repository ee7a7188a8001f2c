"""`OrjsonTranscoder`: eventsourcing's JSON transcoding, encoded by orjson.

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
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

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
