"""Two sandboxed programs alive at the same time, for tests of what one run can do to another.

The runs share nothing to synchronise on (that is what the tests check), so each program
sleeps a while and prints its start and end wall-clock times as the first two fields of its
last line. Started together from two threads, they overlap unless the machine is slow enough
to start one only after the other has ended; then they are run again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

ATTEMPTS = 5


def run_overlapping(
    run: Callable[[str], str], programs: Mapping[str, str], attempts: int = ATTEMPTS
) -> dict[str, str]:
    """The stdout of each program, from the first attempt in which all were alive at once."""
    outputs: dict[str, str] = {}
    for _ in range(attempts):
        outputs = _together(run, programs)
        spans = [_span(out) for out in outputs.values()]
        if max(began for began, _ in spans) < min(ended for _, ended in spans):
            return outputs
    raise AssertionError(f"the runs never overlapped in {attempts} attempts: {outputs}")


def _together(run: Callable[[str], str], programs: Mapping[str, str]) -> dict[str, str]:
    outputs: dict[str, str] = {}

    def one(name: str, code: str) -> None:
        outputs[name] = run(code)

    threads = [threading.Thread(target=one, args=item) for item in programs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outputs


def _span(stdout: str) -> tuple[float, float]:
    began, ended = stdout.splitlines()[-1].split()[:2]
    return float(began), float(ended)
