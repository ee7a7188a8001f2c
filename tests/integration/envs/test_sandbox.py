"""The fork-server sandbox beyond the port's contract: its limits, its isolation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.envs.conftest import TEST_UID_BASE
from tests.integration.envs.overlapping import run_overlapping
from throne.envs.sandbox import ForkServerSandbox
from throne.envs.sandbox.client import UID_COUNT
from throne.ports.sandbox import Limits

ROOT = os.geteuid() == 0


def test_the_environment_is_clean_and_the_run_directory_is_removed(
    sandbox: ForkServerSandbox,
) -> None:
    result = sandbox.run("import os\nprint(sorted(os.environ))\nprint(os.getcwd())")
    env_line, cwd = result.stdout.split("\n")[:2]
    assert env_line == "['LANG', 'PATH', 'PYTHONHASHSEED']"
    later = sandbox.run(f"import os\nprint(os.path.exists({cwd!r}))")
    assert later.stdout == "False\n"


def test_cpu_and_wall_limits_end_the_run_with_a_marker_on_stderr() -> None:
    box = ForkServerSandbox(limits=Limits(wall_s=1.0, cpu_s=5, cpu_hard_s=6))
    try:
        slept = box.run("import time\nprint('start', flush=True)\ntime.sleep(30)")
        assert slept.timed_out and slept.stdout == "start\n" and "wall-clock" in slept.stderr
        assert slept.duration_s < 5
    finally:
        box.close()
    box = ForkServerSandbox(limits=Limits(wall_s=10.0, cpu_s=1, cpu_hard_s=2))
    try:
        spun = box.run("while True:\n    pass")
        # The CPU limit's own marker, not the wall clock's: on a loaded machine a second of
        # CPU may take seconds of wall time.
        assert not spun.clean and "CPU time limit" in spun.stderr and not spun.timed_out
    finally:
        box.close()


@pytest.mark.skipif(not ROOT, reason="the uid drop and namespaces are checked as root")
def test_as_root_the_program_runs_unprivileged_in_its_own_namespaces(
    sandbox: ForkServerSandbox,
) -> None:
    held = sandbox.isolation
    assert held["uid_base"] == TEST_UID_BASE
    assert held["net_ns"] and held["mount_ns"] and held["pid_ns"]
    result = sandbox.run(
        "import os\nprint(os.getuid(), os.getgid(), os.getgroups(), os.getpid())\n"
        "print(sorted(p for p in os.listdir('/proc') if p.isdigit()))"
    )
    ids, pids = result.stdout.split("\n")[:2]
    uid, gid, groups, pid = ids.split(" ", 3)
    assert TEST_UID_BASE <= int(uid) < TEST_UID_BASE + UID_COUNT and gid == uid
    assert groups == "[]" and pid == "1"
    assert pids == "['1']"


def test_concurrent_runs_cannot_see_or_touch_each_others_files(
    sandbox: ForkServerSandbox,
) -> None:
    victim = (
        "import os, time\nbegan = time.time()\nopen('notes.txt', 'w').write('mine')\n"
        "time.sleep(2)\nprint(began, time.time(), open('notes.txt').read())"
    )
    attacker = (
        "import os, time\nbegan = time.time()\ntime.sleep(0.5)\n"
        "me = os.path.basename(os.getcwd())\n"
        "others = [d for d in os.listdir('/tmp') if d != me]\n"
        "print(began, time.time(), len(others))"
    )
    results = run_overlapping(lambda code: sandbox.run(code).stdout, {"v": victim, "a": attacker})
    # Both were alive at once: the attacker looked while the victim's file existed.
    notes, others = results["v"].split()[2], results["a"].split()[2]
    assert notes == "mine" and others == "0"


def test_every_standard_module_that_imports_outside_imports_inside(
    sandbox: ForkServerSandbox,
) -> None:
    """The minimal root still holds all the interpreter needs: its libraries, locale, zones."""
    skipped = {"antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle", "__main__"}
    sweep = (
        "import importlib, sys\nfailed = []\n"
        f"for name in sorted(sys.stdlib_module_names - {skipped!r}):\n"
        "    try:\n        importlib.import_module(name)\n"
        "    except BaseException:\n        failed.append(name)\n"
        "import zoneinfo, locale\nzoneinfo.ZoneInfo('Europe/Paris')\n"
        "locale.setlocale(locale.LC_ALL, '')\nprint(failed)"
    )
    outside = subprocess.run(
        [sys.executable, "-s", "-S", "-c", sweep], capture_output=True, text=True, cwd="/"
    )
    limits = Limits(wall_s=60.0, cpu_s=50, cpu_hard_s=51, run_cpu_s=60.0)
    inside = sandbox.run(sweep, limits=limits)
    assert outside.returncode == 0, outside.stderr
    assert inside.clean, inside.stderr
    assert inside.stdout == outside.stdout


def test_a_restarted_server_keeps_working_after_close() -> None:
    box = ForkServerSandbox()
    try:
        assert box.run("print(1)").stdout == "1\n"
        box.close()
        assert box.run("print(2)").stdout == "2\n"
    finally:
        box.close()
