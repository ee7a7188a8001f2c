"""How a page writes a number: one rule per format, the same as the overview's script
(``static/live.js``) applies when it refreshes the page, so that both write the same text.

Rounding is half away from zero on the number's exact binary value: what JavaScript's
``toFixed`` does (Python's own formatting rounds half to even, which would differ on ties).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson

#: shown where a value is missing (JSON null)
MISSING = "—"


def fixed(x: float, places: int) -> str:
    """``x`` with ``places`` decimals, as JavaScript's ``x.toFixed(places)`` writes it."""
    if x == 0:
        x = 0.0  # no "-0.0"
    quantum = Decimal(1).scaleb(-places)
    return str(Decimal(x).quantize(quantum, rounding=ROUND_HALF_UP))


def show(value: Any, fmt: str = "text") -> str:
    """The text of ``value`` in format ``fmt``:

    - ``text``: as it is (``yes``/``no`` for a boolean);
    - ``int``: a whole number;
    - ``pct``: a fraction as a percentage with one decimal (0.955 -> ``95.5%``);
    - ``weight``: four decimals; ``stat``: two decimals; ``score``: three decimals;
    - ``ms``: milliseconds;
    - ``short``: text cut to 12 characters and an ellipsis (a revision, a hash);
    - ``json``: the value as compact JSON (a vector).
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if fmt == "int":
        return str(int(value))
    if fmt == "pct":
        return fixed(float(value) * 100, 1) + "%"
    if fmt == "weight":
        return fixed(float(value), 4)
    if fmt == "stat":
        return fixed(float(value), 2)
    if fmt == "score":
        return fixed(float(value), 3)
    if fmt == "ms":
        return f"{int(value)} ms"
    if fmt == "json":
        return orjson.dumps(_as_javascript(value), option=orjson.OPT_NON_STR_KEYS).decode()
    text = str(value)
    if fmt == "short" and len(text) > 12:
        return text[:12] + "…"
    return text


def _as_javascript(value: Any) -> Any:
    """``value`` with its numbers as JavaScript writes them in JSON (``1.0`` is ``1``)."""
    if isinstance(value, dict):
        items = {str(k): v for k, v in value.items()}
        return {k: _as_javascript(items[k]) for k in javascript_key_order(items)}
    if isinstance(value, list | tuple):
        return [_as_javascript(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, float) and value != 0 and 1e-6 <= abs(value) < 1e-4:
        return orjson.Fragment(format(Decimal(repr(value)), "f"))
    if isinstance(value, float) and "e-0" in repr(value):
        return orjson.Fragment(repr(value).replace("e-0", "e-"))
    return value


def javascript_key_order(keys: Iterable[str]) -> list[str]:
    """The order JavaScript keeps an object's keys in: those that are array indexes first,
    ascending, then the others in their order."""
    listed = list(keys)
    indexes = sorted((k for k in listed if _index(k)), key=int)
    return indexes + [k for k in listed if not _index(k)]


def _index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0"))
