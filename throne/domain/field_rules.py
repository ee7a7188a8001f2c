"""Ranges declared beside the fields they bound, checked whenever a record is built.

A frozen dataclass declares a field's range in the field's annotation
(``poll_seconds: Annotated[float, above(0)] = 2.0``), and its ``__post_init__`` calls
:func:`check_fields`. The error names the field and its range (``poll_seconds must be > 0, got
0``), so a bad value in ``throne.toml`` becomes one line that says what to write instead.
Because ``dataclasses.replace`` builds a new record, a changed copy is checked too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, get_type_hints
from urllib.parse import urlsplit


class OutOfRange(ValueError):
    """A field holds a value outside its declared range; the message names both."""


@dataclass(frozen=True)
class Rule:
    """A condition on one value, and the words that complete "NAME must be ..."."""

    holds: Callable[[Any], bool]
    words: str


@functools.cache
def rules_of(record_type: type) -> dict[str, tuple[Rule, ...]]:
    """Each field's rules, from its ``Annotated[...]`` annotation, in field order."""
    hints = get_type_hints(record_type, include_extras=True)
    out = {}
    for f in fields(record_type):
        metadata = getattr(hints.get(f.name), "__metadata__", ())
        out[f.name] = tuple(m for m in metadata if isinstance(m, Rule))
    return out


def check_value(name: str, value: Any, rules: tuple[Rule, ...]) -> None:
    for rule in rules:
        if not rule.holds(value):
            raise OutOfRange(f"{name} must be {rule.words}, got {value!r}")


def check_fields(record: Any) -> None:
    """Raise :class:`OutOfRange` for the first field of ``record`` outside its range."""
    kind: type = type(record)
    for name, rules in rules_of(kind).items():
        check_value(name, getattr(record, name), rules)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def above(bound: float) -> Rule:
    return Rule(lambda v: _number(v) and v > bound, f"> {bound}")


def at_least(bound: float) -> Rule:
    return Rule(lambda v: _number(v) and v >= bound, f">= {bound}")


def within(low: float, high: float) -> Rule:
    """``low <= value <= high``."""
    return Rule(lambda v: _number(v) and low <= v <= high, f"within [{low}, {high}]")


def above_up_to(low: float, high: float) -> Rule:
    """``low < value <= high``."""
    return Rule(lambda v: _number(v) and low < v <= high, f"within ({low}, {high}]")


def one_of(*choices: str) -> Rule:
    return Rule(lambda v: v in choices, f"one of {', '.join(choices)}")


def not_empty() -> Rule:
    return Rule(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")


def is_http_url(text: object) -> bool:
    """An ``http://`` or ``https://`` URL with a host."""
    if not isinstance(text, str):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - a port out of range or not a number raises here
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def http_url() -> Rule:
    return Rule(is_http_url, "an http(s):// URL")
