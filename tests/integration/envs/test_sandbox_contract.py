"""The `Sandbox` contract: what the environments rely on from any sandbox (today the fork
server, in this session's shared instance): a program's output, honest results, fresh runs,
and limits that end a run with a mark on it."""

from __future__ import annotations

import pytest

from throne.envs.sandbox import ForkServerSandbox
from throne.ports.sandbox import Limits, Sandbox


@pytest.fixture(params=["fork server"])
def box(request: pytest.FixtureRequest, sandbox: ForkServerSandbox) -> Sandbox:
    return sandbox


def test_a_program_reads_stdin_and_writes_stdout(box: Sandbox) -> None:
    result = box.run("import sys\nprint(sys.stdin.read().upper(), end='')", "abc\ndef\n")
    assert result.clean and result.stdout == "ABC\nDEF\n"


def test_errors_warnings_and_non_zero_exits_are_not_clean(box: Sandbox) -> None:
    crash = box.run("print('partial')\n1/0")
    assert crash.stdout == "partial\n" and "ZeroDivisionError" in crash.stderr
    assert crash.exit_code == 1 and not crash.clean
    assert 'File "' in crash.stderr and "runner.py" not in crash.stderr
    assert not box.run("import sys\nsys.exit(3)").clean
    assert box.run("import sys\nsys.exit(0)").clean
    warned = box.run("import warnings\nwarnings.warn('careful')\nprint(1)")
    assert warned.stdout == "1\n" and not warned.clean


def test_every_run_starts_from_a_fresh_main_module(box: Sandbox) -> None:
    box.run("import math\nmath.pi = 3\nLEAK = 1")
    result = box.run("import math\nprint(math.pi > 3, 'LEAK' in globals())")
    assert result.stdout == "True False\n"


def test_a_run_past_its_wall_clock_limit_is_ended_and_marked(box: Sandbox) -> None:
    limits = Limits(wall_s=1.0, cpu_s=2, cpu_hard_s=3)
    slept = box.run("import time\nprint('start', flush=True)\ntime.sleep(30)", limits=limits)
    assert slept.timed_out and not slept.clean
    assert slept.stdout == "start\n" and "wall-clock" in slept.stderr


def test_output_past_its_limit_is_cut_and_marked(box: Sandbox) -> None:
    flood = box.run("print('x' * 10_000)", limits=Limits(output_bytes=1000))
    assert flood.truncated and not flood.clean
    assert len(flood.stdout) == 1000 and "output limit" in flood.stderr
