"""How a page writes a number: one rule per format, the same as the overview's script
(``static/live.js``) applies when it refreshes the page, so that both write the same text.

Rounding is half away from zero on the number's exact binary value: what JavaScript's
``toFixed`` does (Python's own formatting rounds half to even, which would differ on ties).
"""

from __future__ import annotations

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
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    text = str(value)
    if fmt == "short" and len(text) > 12:
        return text[:12] + "…"
    return text
