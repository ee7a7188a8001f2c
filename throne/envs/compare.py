"""When two program outputs count as the same."""

from __future__ import annotations


def equivalent(actual: str, expected: str) -> bool:
    """ABD's rule: equal, or equal after stripping and CRLF → LF, or equal line by line once
    every line is right-stripped (trailing blank lines ignored)."""
    if actual == expected:
        return True
    a = actual.replace("\r\n", "\n").strip()
    e = expected.replace("\r\n", "\n").strip()
    return a == e or _lines(actual) == _lines(expected)


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def normalise(text: str) -> str:
    """DED's rule: right-strip the text and every line."""
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))
