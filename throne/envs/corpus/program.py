"""A generated program, and running trusted generated code in-process to get its output."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType
from typing import Any

from throne.envs.prng import Stream


@dataclass(frozen=True)
class FunctionForm:
    """The same computation asked as a function: ``name(*args)`` returns a JSON value."""

    name: str
    source: str
    statement: str
    make_args: Callable[[Stream], list[Any]]


@dataclass(frozen=True)
class Program:
    """A stdin → stdout program, its specification in prose, and how to draw inputs for it.

    ``source`` uses only ``input()`` and ``print()`` for I/O, so it can run in-process (trusted
    code from our generators) or in the sandbox with identical output.
    """

    family: str
    source: str
    statement: str
    make_input: Callable[[Stream], str]
    function: FunctionForm | None = None
    # For ABD: the least output (characters, distinct tokens) worth asking about. Families with
    # few program variants need more output, or two ids would show the same program and output.
    min_chars: int = 3
    min_tokens: int = 1


class _EndOfInput(EOFError):
    pass


def run_trusted(source: str, stdin: str) -> str:
    """Run generated (trusted) code with ``stdin``; return what it prints.

    Only for our own generators' programs: it has no limits and no isolation.
    """
    lines = iter(stdin.split("\n")[:-1] if stdin.endswith("\n") else stdin.split("\n"))
    out: list[str] = []

    def _input(prompt: str = "") -> str:
        try:
            return next(lines)
        except StopIteration:
            raise _EndOfInput("EOF when reading a line") from None

    def _print(*args: Any, sep: str = " ", end: str = "\n") -> None:
        out.append(sep.join(str(a) for a in args) + end)

    scope: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "input": _input,
        "print": _print,
    }
    exec(_compiled(source), scope)
    return "".join(out)


def call_trusted(form: FunctionForm, args: list[Any]) -> Any:
    """Call a generated function form in-process (trusted code only)."""
    scope: dict[str, Any] = {"__name__": "generated", "__builtins__": builtins}
    exec(_compiled(form.source), scope)
    return scope[form.name](*args)


@lru_cache(maxsize=256)
def _compiled(source: str) -> CodeType:
    return compile(source, "<generated>", "exec")
