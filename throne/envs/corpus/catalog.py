"""The family catalogue and the draw of one program per task."""

from __future__ import annotations

from collections.abc import Callable

from throne.envs.corpus import lists, numbers, strings
from throne.envs.corpus.program import Program
from throne.envs.prng import Stream

# (family, weight). Append only: reordering or reweighting changes every task, so it needs a
# new env version.
FAMILIES: tuple[tuple[Callable[[Stream], Program], int], ...] = (
    (lists.list_pipeline, 6),
    (strings.string_pipeline, 6),
    (lists.pair_count, 2),
    (lists.grid, 2),
    (strings.shift_cipher, 2),
    (strings.word_stats, 2),
    (strings.run_length, 2),
    (strings.brackets, 2),
    (numbers.digits, 2),
    (numbers.gcd_pairs, 2),
    (numbers.fizzbuzz, 1),
    (numbers.command_machine, 2),
    (numbers.records, 2),
)
_TABLE = tuple(build for build, weight in FAMILIES for _ in range(weight))


def draw_program(rng: Stream) -> Program:
    """One program, its family chosen by weight; all parameters drawn from ``rng``."""
    return _TABLE[rng.below(len(_TABLE))](rng.child("program"))
