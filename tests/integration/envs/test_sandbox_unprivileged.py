"""The sandbox as most validators run it: not as root.

Without root the server isolates itself in a user namespace (then network, mount and pid
namespaces inside it) and every program runs under the validator's own uid, in a user namespace
of its own. No cgroup is writable here, so the supervisor holds the run-wide caps by sampling
/proc. The rest of the suite runs as root in CI, so here the real sandbox is started as
``nobody`` in a child process (driven over JSON lines on its stdin and stdout) and given the
hostile programs again, and the run-wide cases of test_sandbox_run_limits.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import throne
from tests.integration.envs.peeking import (
    ESCAPING_PROGRAM,
    assert_nothing_seen,
    assert_still_inside,
    lay_out_validator_files,
    peeking_program,
)
from tests.integration.envs.run_watch import RunWatch
from tests.integration.envs.test_sandbox_run_limits import (
    BURNER_LIMITS,
    CPU_BURNERS,
    CPU_SLACK_S,
    FILLER,
    HOG_LIMITS,
    MEMORY_HOGS,
    MEMORY_SLACK,
    NEIGHBOUR,
    TMP_LIMITS,
    UNWAITED_BURNERS,
)
from tests.support.cpu_hogs import CpuHogs
from throne.ports.sandbox import MIB, Limits

NOBODY = 65534
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to drop to nobody (without root, the whole suite runs "
    "unprivileged)"
)  # fmt: skip

DRIVER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from throne.envs.sandbox import ForkServerSandbox
from throne.ports.sandbox import Limits
box = ForkServerSandbox(limits=Limits(**json.loads(sys.argv[2])), hidden_paths=sys.argv[3:])
print(json.dumps(box.isolation), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    limits = Limits(**request["limits"]) if "limits" in request else None
    result = box.run(request["source"], request.get("stdin", ""), limits)
    print(json.dumps({k: getattr(result, k) for k in (
        "stdout", "stderr", "exit_code", "signal", "timed_out", "truncated", "duration_s",
        "exceeded")}), flush=True)
box.close()
"""

LIMITS = {
    "wall_s": 3.0,
    "cpu_s": 2,
    "cpu_hard_s": 3,
    "address_space": 256 * 1024 * 1024,
    "output_bytes": 100_000,
    "processes": 64,
}


class Unprivileged:
    """A sandbox server started by a process running as ``nobody``."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first:
            process.wait()
            raise AssertionError(
                f"the driver died: {process.stderr.read() if process.stderr else ''}"
            )
        self.isolation: dict[str, Any] = json.loads(first)

    def run(self, source: str, stdin: str = "", limits: Limits | None = None) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        request: dict[str, Any] = {"source": source, "stdin": stdin}
        if limits is not None:
            request["limits"] = limits.to_dict()
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the driver died: {self.process.stderr.read() if self.process.stderr else ''}"
        return dict(json.loads(line))


def _python_for_nobody() -> str | None:
    """An interpreter (3.11 or later) that nobody may execute: ours may sit in /root."""
    for candidate in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if not candidate:
            continue
        # The sandbox server is started as sys.executable: that must run for nobody too.
        check = (
            "import subprocess, sys; assert sys.version_info >= (3, 11); "
            "subprocess.run([sys.executable, '-c', 'pass'], check=True)"
        )
        probe = subprocess.run(
            [*_as_nobody(), candidate, "-s", "-S", "-c", check], capture_output=True, cwd="/"
        )
        if probe.returncode == 0:
            return candidate
    return None


def _as_nobody() -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture(scope="module")
def place() -> Iterator[Path]:
    """A world-readable directory (pytest's own are private to root) with throne's sandbox
    package and its port in it, and a secret directory the sandbox must hide."""
    root = Path(tempfile.mkdtemp(prefix="throne-unprivileged-"))
    try:
        source = Path(throne.__file__).parent
        package = root / "pkg" / "throne"
        (package / "envs").mkdir(parents=True)
        shutil.copy(source / "__init__.py", package / "__init__.py")
        shutil.copy(source / "envs" / "__init__.py", package / "envs" / "__init__.py")
        (package / "ports").mkdir()
        for name in ("__init__.py", "sandbox.py"):
            shutil.copy(source / "ports" / name, package / "ports" / name)
        shutil.copytree(
            source / "envs" / "sandbox",
            package / "envs" / "sandbox",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        (root / "driver.py").write_text(DRIVER)
        secrets = root / "validator-data"
        secrets.mkdir()
        (secrets / "wallet").write_text("SECRET-MNEMONIC")
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def box(place: Path) -> Iterator[Unprivileged]:
    python = _python_for_nobody() if shutil.which("setpriv") else None
    if python is None:
        message = "no setpriv, or no Python 3.11 that the nobody user may run"
        if IN_CI:
            pytest.fail(message + " (CI never skips the unprivileged sandbox)")
        pytest.skip(message)
    process = subprocess.Popen(
        [
            *_as_nobody(),
            python,
            "-s",
            "-S",
            str(place / "driver.py"),
            str(place / "pkg"),
            json.dumps(LIMITS),
            str(place / "validator-data"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(place),
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )
    try:
        yield Unprivileged(process)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _descends(pid: int, ancestors: set[int], parents: dict[int, int]) -> bool:
    while pid > 1:
        pid = parents.get(pid, 0)
        if pid in ancestors:
            return True
    return False


def _leftovers(driver: int) -> list[str]:
    """Processes the driver's sandbox server started that are still alive, once the last run's
    supervisor has had the time to exit (it answers first, then exits). Only this driver's:
    other suites on the machine may run sandboxes as nobody too."""
    deadline = time.monotonic() + 10
    while True:
        out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True, text=True)
        rows = [line.split(None, 2) for line in out.stdout.splitlines() if line.strip()]
        parents = {int(r[0]): int(r[1]) for r in rows}
        servers = {pid for pid, parent in parents.items() if parent == driver}
        left = [" ".join(r) for r in rows if _descends(int(r[0]), servers, parents)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_without_root_the_server_still_gets_every_namespace(box: Unprivileged) -> None:
    iso = box.isolation
    assert iso["root"] is False
    assert iso["user_ns"] and iso["net_ns"] and iso["mount_ns"] and iso["pid_ns"], iso
    assert box.run("print(40 + 2)")["stdout"] == "42\n"


def test_the_validators_data_is_hidden_even_though_the_uid_may_read_it(
    box: Unprivileged, place: Path
) -> None:
    data = place / "validator-data"
    code = (
        "import os\n"
        f"try:\n    print(sorted(os.listdir({str(data)!r})))\n"
        "except OSError as exc:\n    print('denied', type(exc).__name__)\n"
        f"try:\n    print(open({str(data / 'wallet')!r}).read())\n"
        "except OSError as exc:\n    print('denied', type(exc).__name__)\n"
    )
    result = box.run(code)
    assert result["exit_code"] == 0, result
    assert "SECRET" not in result["stdout"] and "wallet" not in result["stdout"], result


def test_the_network_and_the_file_system_outside_the_run_are_closed(
    box: Unprivileged, place: Path
) -> None:
    code = (
        "import socket\n"
        "for addr in [('127.0.0.1', 22), ('1.1.1.1', 53)]:\n"
        "    try:\n"
        "        socket.create_connection(addr, timeout=1).close()\n"
        "        print('connected')\n"
        "    except OSError:\n"
        "        print('refused')\n"
        f"for path in ['/etc/pwned', {str(place / 'pwned')!r}]:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('WROTE', path)\n"
        "    except OSError:\n"
        "        print('denied')\n"
    )
    result = box.run(code)
    assert "connected" not in result["stdout"] and "WROTE" not in result["stdout"], result
    assert not (place / "pwned").exists() and not Path("/etc/pwned").exists()


@pytest.mark.parametrize(
    ("name", "source", "expect"),
    [
        ("infinite loop", "while True:\n    pass", "stopped"),
        ("sleeping forever", "import time\ntime.sleep(10**6)", "stopped"),
        (
            "fork bomb",
            "import os\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass",
            "stopped",
        ),
        (
            "memory bomb",
            "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))",
            "stopped",
        ),
        (
            "gigabyte of output",
            "import sys\nchunk = 'x' * 65536\nfor _ in range(16384):\n    sys.stdout.write(chunk)",
            "truncated",
        ),
        (
            "killing everything it can",
            "import os, signal\nfor pid in (os.getppid(), 0, -1, 1):\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\nprint('x')",
            "any",
        ),
    ],
)
def test_hostile_programs_are_stopped_and_leave_the_server_serving(
    box: Unprivileged, name: str, source: str, expect: str
) -> None:
    result = box.run(source)
    if expect == "stopped":  # by the CPU limit, the wall clock or a signal
        assert result["timed_out"] or result["signal"] or result["exit_code"] != 0, result
    elif expect == "truncated":
        assert result["truncated"] and len(result["stdout"]) == LIMITS["output_bytes"]
    # The wall clock ended it: these programs would otherwise run for ever. The margin is for
    # the kill itself, which a run below its watcher waits for when the machine is busy.
    assert result["duration_s"] < LIMITS["wall_s"] + 10
    assert box.run("print(40 + 2)")["stdout"] == "42\n", name
    # Nothing the program started outlives its run: only the driver and the server remain.
    assert _leftovers(box.process.pid) == []


def test_without_root_sampling_proc_holds_the_run_limits(box: Unprivileged) -> None:
    assert box.isolation["run_limits"] == "proc"
    assert box.isolation["minimal_root"] and box.isolation["private_tmp"]


def test_without_root_a_fork_bomb_of_memory_hogs_stays_under_the_runs_memory_cap(
    box: Unprivileged,
) -> None:
    """Even with every core taken by other work at the supervisor's own priority: the cap
    must not hold only when the supervisor happens to get the CPU in time. The witness runs
    ahead of everything, so that it is never the one that misses the peak."""
    with CpuHogs(), RunWatch(box.process.pid, urgent=True) as watch:
        result = box.run(MEMORY_HOGS, limits=HOG_LIMITS)
    assert result["exceeded"] == "memory" and not result["timed_out"], result
    assert watch.samples > 0 and watch.peak_memory > 0
    slack = MEMORY_SLACK["proc"]
    assert watch.peak_memory < HOG_LIMITS.run_memory + slack, watch.peak_memory / MIB
    assert box.run("print(40 + 2)")["stdout"] == "42\n"
    assert _leftovers(box.process.pid) == []


def test_without_root_many_processes_burning_cpu_are_killed_at_the_runs_cpu_cap(
    box: Unprivileged,
) -> None:
    with RunWatch(box.process.pid) as watch:
        result = box.run(CPU_BURNERS, limits=BURNER_LIMITS)
    assert result["exceeded"] == "cpu" and not result["timed_out"], result
    assert watch.peak_cpu_s < BURNER_LIMITS.run_cpu_s + CPU_SLACK_S, watch.peak_cpu_s
    assert box.run("print(40 + 2)")["stdout"] == "42\n"
    assert _leftovers(box.process.pid) == []


def test_without_root_burners_that_exit_unwaited_still_count_towards_the_cpu_cap(
    box: Unprivileged,
) -> None:
    result = box.run(UNWAITED_BURNERS, limits=BURNER_LIMITS)
    assert result["exceeded"] == "cpu" and not result["timed_out"], result


def test_without_root_a_run_filling_its_tmp_leaves_the_next_run_its_own(
    box: Unprivileged,
) -> None:
    filled = box.run(FILLER, limits=TMP_LIMITS)["stdout"].splitlines()
    after = box.run(NEIGHBOUR, limits=TMP_LIMITS)["stdout"].split()
    assert filled[0] == "full 28"
    assert int(after[2]) >= TMP_LIMITS.tmp_bytes - 5 * MIB


def test_without_root_the_program_sees_only_the_interpreters_files(box: Unprivileged) -> None:
    base = lay_out_validator_files()
    try:
        result = box.run(peeking_program(base))
    finally:
        shutil.rmtree(base)
    assert result["exit_code"] == 0, result
    assert_nothing_seen(result["stdout"], box.isolation["exposed"])


def test_without_root_unmounting_and_breaking_out_stay_inside_the_minimal_root(
    box: Unprivileged,
) -> None:
    # Root of its own user namespace, the program holds no capability over the mounts.
    result = box.run(ESCAPING_PROGRAM)
    assert_still_inside(result["stdout"], box.isolation["exposed"])
