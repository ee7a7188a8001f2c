"""Small drawing helpers shared by the program families."""

from __future__ import annotations

from throne.envs.prng import Stream

LOWER = "abcdefghijklmnopqrstuvwxyz"
VOWELS = "aeiou"


def ints(rng: Stream, n: int, lo: int, hi: int) -> list[int]:
    return [rng.between(lo, hi) for _ in range(n)]


def word(rng: Stream, lo: int = 2, hi: int = 7, alphabet: str = LOWER) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.between(lo, hi)))


def words(rng: Stream, lo: int, hi: int) -> list[str]:
    return [word(rng) for _ in range(rng.between(lo, hi))]


def plus(b: int) -> str:
    """`` + 3`` / `` - 3`` / empty, for readable generated code."""
    if b == 0:
        return ""
    return f" + {b}" if b > 0 else f" - {-b}"


def indent(lines: list[str], by: int = 4) -> list[str]:
    return [" " * by + line if line else line for line in lines]
