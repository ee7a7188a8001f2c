"""Running a miner's program: the ``solve()`` convention and the function-call harness."""

from __future__ import annotations

import json
import re
from typing import Any

from throne.domain.bounded_json import UnreadableJson, read_json
from throne.ports.sandbox import Limits, RunResult, Sandbox

MAX_CALL_RESULT_BYTES = 3 * Limits().output_bytes
"""The longest call result read: the sandbox keeps at most `Limits.output_bytes` of a stream and
decodes it with replacement characters, three UTF-8 bytes at most for each byte kept."""

_DEFINES_SOLVE = re.compile(r"^def solve\s*\(", re.MULTILINE)
_MAIN_GUARD = re.compile(r"""if\s+__name__\s*==\s*['"]__main__['"]""")

_SOLVE_GUARD = """

if __name__ == "__main__":
    _result = solve()
    if _result is not None:
        if isinstance(_result, (list, tuple)):
            print(" ".join(map(str, _result)))
        else:
            print(_result)
"""


def run_program(sandbox: Sandbox, source: str, stdin: str) -> RunResult:
    """Run ``source`` on ``stdin``. A program that printed nothing at all, defines ``solve`` and
    has no main guard is run once more with a guard that calls ``solve()``; that run counts."""
    result = sandbox.run(source, stdin)
    if (
        not result.stdout
        and not result.stderr
        and _DEFINES_SOLVE.search(source)
        and not _MAIN_GUARD.search(source)
    ):
        result = sandbox.run(source + _SOLVE_GUARD, stdin)
    return result


def canonical(value: Any) -> str:
    """One serialisation for both sides of a function-call comparison (values, not text)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def call_harness(source: str, fn_name: str, args: list[Any]) -> str:
    """``source`` plus a main guard calling ``fn_name(*args)`` and printing the result as JSON."""
    payload = json.dumps(args)
    return (
        f"{source}\n\n"
        'if __name__ == "__main__":\n'
        "    import json as _json\n"
        "    import sys as _sys\n"
        f"    _result = {fn_name}(*_json.loads({payload!r}))\n"
        '    _sys.stdout.write(_json.dumps(_result) + "\\n")\n'
    )


def call_result_matches(stdout: str, expected: Any) -> bool:
    """Whether the program printed ``expected`` as JSON. Expected values nest a few levels, so
    a print nested deeper than the reading limit could never match: it is simply wrong."""
    try:
        value = read_json(stdout, max_bytes=MAX_CALL_RESULT_BYTES)
    except UnreadableJson:
        return False
    return canonical(value) == canonical(expected)
