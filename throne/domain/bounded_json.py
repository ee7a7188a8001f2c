"""Reading JSON that comes from outside, with bounded size and nesting depth.

Miners, their programs, the chain and the Hub all send JSON that nobody here wrote. The standard
library's parser recurses once per nesting level and, past the interpreter's recursion limit,
raises `RecursionError`, which is not a `ValueError`: 2 KB of ``[`` is enough to escape every
``except ValueError`` around it. `read_json` measures size and depth before it parses, so the
only exception it raises is `UnreadableJson` (a `ValueError`), with a short reason.

It reads what the standard library reads (``NaN``, ``Infinity``, lone surrogate escapes
included), only from UTF-8, and refuses integers of more digits than ``int()`` converts.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate

MAX_JSON_DEPTH = 64
"""The deepest nesting read. Honest payloads nest a handful of levels (a chat completion with
log-probabilities about 7, the Hub's model info 4, a commitment 2, a program's return value a
few); 64 leaves room for extensions, and stays far below the interpreter's recursion limit
(1,000 frames) wherever in a call stack the reading happens."""

# One JSON string, once its escaped quotes are gone: to the closing quote, or to the end of the
# text when it is never closed (a parser fails there, so nothing after it is structure). It
# always matches, so removing every string is one linear pass in C whatever the text.
_STRING = re.compile(r'"[^"]*(?:"|\Z)')
# Brackets as bytes: an opening one 2, a closing one 0, so that the running sum less the count
# of brackets so far is the depth. Every other byte (non-ASCII ones included) is dropped.
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


class UnreadableJson(ValueError):
    """Bytes that are too large, too deep, not UTF-8 or not JSON; the message says which."""


def read_json(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> object:
    """The JSON value in ``data`` (UTF-8 bytes, or text), if it is at most ``max_bytes`` long
    in UTF-8 and nests at most ``max_depth`` levels; else `UnreadableJson`."""
    # A text's length is a lower bound of its size: checked first, as encoding a huge one costs.
    if len(data) > max_bytes or (isinstance(data, str) and _utf8_size(data) > max_bytes):
        raise UnreadableJson(f"over the limit of {max_bytes} bytes")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableJson(f"not UTF-8 (byte {exc.start})") from None
    else:
        text = data
    # Counting the brackets is enough for nearly every honest payload: too few to nest deeper.
    if text.count("[") + text.count("{") > max_depth and nests_deeper_than(text, max_depth):
        raise UnreadableJson(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:
        # Only when called already near the interpreter's limit: too deep all the same.
        raise UnreadableJson("nested too deep to read this far down a call stack") from None
    except ValueError as exc:
        reason = " ".join(str(exc).split())[:120]
        raise UnreadableJson(f"malformed JSON: {reason}") from None


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text``, read as JSON, nest deeper than ``limit`` levels
    up to where a parser would stop; brackets inside strings do not count. Never false where a
    parser would go deeper; true beyond that only past the point where the parser fails."""
    # Escaped backslashes first, then escaped quotes: what remains of a run of backslashes is
    # one backslash exactly when it escapes the quote after it, as a parser pairs them.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    outside = _STRING.sub("", unescaped).encode("utf-8", "surrogatepass")
    steps = outside.translate(_STEPS, _NOT_BRACKETS)
    depths = map(operator.sub, accumulate(steps), range(1, len(steps) + 1))
    # All in C, and it stops at the first level too deep: a megabyte of brackets costs
    # milliseconds, never a Python loop over them.
    return next(filter(limit.__lt__, depths), None) is not None


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
