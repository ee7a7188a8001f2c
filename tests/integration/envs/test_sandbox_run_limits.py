"""A run is held as a whole: memory and CPU caps across all its processes, a private /tmp.

Each cap is checked from outside: the test samples the run's processes itself (`RunWatch`).
The suite runs as root in CI, where a cgroup holds the run; the unprivileged path, where the
supervisor samples /proc, has the same cases in test_sandbox_unprivileged.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.integration.envs.overlapping import run_overlapping
from tests.integration.envs.run_watch import RunWatch, expected_run_limits
from throne.cli.check import RUN_LIMITS
from throne.cli.check import _sandbox as sandbox_check
from throne.envs.sandbox import ForkServerSandbox
from throne.ports.sandbox import MIB, Limits

ROOT = os.geteuid() == 0

# Twelve processes of 96 MiB each, every page touched, all waiting: 1152 MiB if nothing holds
# the run as a whole, though each process stays far within its own address space limit.
MEMORY_HOGS = """
import os, time
for _ in range(12):
    if os.fork() == 0:
        hold = [b"x" * (8 << 20) for _ in range(12)]
        time.sleep(60)
        os._exit(0)
time.sleep(60)
"""
# Seven processes spinning, each far within its own CPU limit.
CPU_BURNERS = """
import os
for _ in range(6):
    if os.fork() == 0:
        break
while True:
    pass
"""
# One short-lived burner at a time, none of them ever waited for: their time leaves the
# process table with them, unless the run is counted as a whole.
UNWAITED_BURNERS = """
import os, signal, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
while True:
    child = os.fork()
    if child == 0:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        os._exit(0)
    while True:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
"""
HOG_LIMITS = Limits(wall_s=25.0, address_space=256 * MIB, run_memory=384 * MIB, run_cpu_s=60.0)
BURNER_LIMITS = Limits(wall_s=25.0, cpu_s=20, cpu_hard_s=21, run_cpu_s=2.0)
# What the measurement from outside may find above a cap. With a cgroup the kernel holds the
# memory, and only the warm interpreter's pages, shared with the server, add to the run's
# proportional size. Sampling /proc sees the run only once per look, and hogs faulting pages
# in on every core (GiB/s) outgrow the cap by what they add between two looks: half the cap
# here, a third of what the hogs would hold unchecked. That holds on a loaded machine too,
# as the run never takes the CPU from the supervisor that looks (see procwatch).
MEMORY_SLACK = {"cgroup2": 48 * MIB, "cgroup1": 48 * MIB, "proc": 192 * MIB}
CPU_SLACK_S = 1.0


@pytest.fixture(scope="module")
def box() -> Iterator[ForkServerSandbox]:
    sandbox = ForkServerSandbox()
    yield sandbox
    sandbox.close()


def test_the_mechanism_expected_on_this_machine_holds_the_run(box: ForkServerSandbox) -> None:
    mechanism = box.isolation["run_limits"]
    if ROOT:
        assert mechanism == expected_run_limits()
    else:  # a delegated cgroup v2 subtree, or else sampling
        assert mechanism in ("cgroup2", "proc")


def test_a_server_removes_its_groups_and_those_a_killed_server_left() -> None:
    first = ForkServerSandbox()
    second = ForkServerSandbox()
    try:
        groups = first.isolation["run_groups"]
        assert first.run("print(1)").stdout == "1\n"
        if first.isolation["run_limits"] == "proc":
            assert groups == []
            return
        assert groups and all(os.path.isdir(g) for g in groups)
        process = first._process
        assert process is not None
        process.kill()  # no clean-up of its own
        process.wait()
        assert all(os.path.isdir(g) for g in groups)
        assert second.run("print(2)").stdout == "2\n"  # starts now, sweeps what is left
        assert not any(os.path.exists(g) for g in groups)
        own = second.isolation["run_groups"]
        second.close()
        assert own and not any(os.path.exists(g) for g in own)
    finally:
        first.close()
        second.close()


def test_throne_check_names_the_mechanism_holding_the_run(box: ForkServerSandbox) -> None:
    check = sandbox_check(None)
    assert check.status == "ok", check
    assert check.detail.endswith(f"run-wide caps: {RUN_LIMITS[box.isolation['run_limits']]}")


def test_a_fork_bomb_of_memory_hogs_stays_under_the_runs_memory_cap(
    box: ForkServerSandbox,
) -> None:
    with RunWatch(os.getpid()) as watch:
        result = box.run(MEMORY_HOGS, limits=HOG_LIMITS)
    assert result.exceeded == "memory" and not result.timed_out, result
    assert "memory limit of the run exceeded" in result.stderr and not result.clean
    assert watch.samples > 0 and watch.peak_memory > 0
    slack = MEMORY_SLACK[box.isolation["run_limits"]]
    assert watch.peak_memory < HOG_LIMITS.run_memory + slack, watch.peak_memory / MIB
    assert box.run("print(40 + 2)").stdout == "42\n"


def test_many_processes_burning_cpu_are_killed_at_the_runs_cpu_cap(
    box: ForkServerSandbox,
) -> None:
    with RunWatch(os.getpid()) as watch:
        result = box.run(CPU_BURNERS, limits=BURNER_LIMITS)
    assert result.exceeded == "cpu" and not result.timed_out, result
    assert "CPU time limit of the run exceeded" in result.stderr and not result.clean
    assert watch.peak_cpu_s < BURNER_LIMITS.run_cpu_s + CPU_SLACK_S, watch.peak_cpu_s
    assert box.run("print(40 + 2)").stdout == "42\n"


def test_burners_that_exit_unwaited_still_count_towards_the_runs_cpu_cap(
    box: ForkServerSandbox,
) -> None:
    result = box.run(UNWAITED_BURNERS, limits=BURNER_LIMITS)
    assert result.exceeded == "cpu" and not result.timed_out, result


def test_a_single_process_program_meets_its_own_limits_before_the_runs() -> None:
    box = ForkServerSandbox(limits=Limits(wall_s=10.0, cpu_s=1, cpu_hard_s=2))
    try:
        spun = box.run("while True:\n    pass")
        hog = box.run("hold = []\nwhile True:\n    hold.append(b'x' * (64 << 20))")
    finally:
        box.close()
    assert spun.exceeded is None and "CPU time limit exceeded" in spun.stderr
    assert hog.exceeded is None and "MemoryError" in hog.stderr


FILLER = """
import os, time
began = time.time()
written = 0
try:
    for i in range(1000):
        with open(f"fill-{i}", "wb") as f:
            f.write(b"x" * (1 << 20))
        written += 1 << 20
except OSError as exc:
    print("full", exc.errno)
time.sleep(2)
print(began, time.time(), written)
"""
NEIGHBOUR = """
import os, time
began = time.time()
time.sleep(0.5)
with open("mine", "wb") as f:
    f.write(b"y" * (4 << 20))
free = os.statvfs("/tmp")
print(began, time.time(), free.f_bavail * free.f_frsize)
"""
TMP_LIMITS = Limits(wall_s=10.0, tmp_bytes=8 * MIB)


def test_a_run_filling_its_tmp_leaves_other_runs_their_own(box: ForkServerSandbox) -> None:
    results = run_overlapping(
        lambda code: box.run(code, limits=TMP_LIMITS).stdout, {"f": FILLER, "n": NEIGHBOUR}
    )
    full, filled = results["f"].splitlines()
    written, free = filled.split()[2], results["n"].split()[2]
    assert full == "full 28"  # ENOSPC: the filler hit the end of its own /tmp
    assert TMP_LIMITS.tmp_bytes - 2 * MIB <= int(written) <= TMP_LIMITS.tmp_bytes
    # The neighbour ran while the filler's /tmp was full, and found its own nearly empty.
    assert int(free) >= TMP_LIMITS.tmp_bytes - 5 * MIB
    after = box.run(NEIGHBOUR, limits=TMP_LIMITS).stdout.split()
    assert int(after[2]) >= TMP_LIMITS.tmp_bytes - 5 * MIB
