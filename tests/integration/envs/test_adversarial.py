"""Hostile programs submitted as DED answers: each scores 0 and leaves the validator unharmed."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.envs.conftest import TEST_UID_BASE
from tests.integration.envs.peeking import (
    ESCAPING_PROGRAM,
    assert_nothing_seen,
    assert_still_inside,
    lay_out_validator_files,
    peeking_program,
)
from throne.envs.base import Task
from throne.envs.ded import DedEnvironment
from throne.envs.sandbox import ForkServerSandbox
from throne.envs.sandbox.client import UID_COUNT

ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def stdin_task(ded: DedEnvironment) -> Task:
    for task_id in range(50):
        task = ded.task(task_id)
        if task.data["tests"][0]["kind"] == "stdin":
            return task
    raise AssertionError("no stdin task among the first ids")


def _answer(code: str) -> str:
    return f"```python\n{code}\n```"


def _sandbox_processes() -> list[int]:
    out = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True)
    uids = [int(u) for u in out.stdout.split()]
    return [u for u in uids if TEST_UID_BASE <= u < TEST_UID_BASE + UID_COUNT]


def _assert_unharmed(sandbox: ForkServerSandbox) -> None:
    assert subprocess.run(["true"]).returncode == 0  # the validator can still start processes
    assert sandbox.run("print(40 + 2)").stdout == "42\n"  # and the sandbox still serves
    if ROOT:
        assert _sandbox_processes() == []  # nothing the program started survives


HOSTILE = {
    "infinite loop": "while True:\n    pass",
    "sleeping forever": "import time\ntime.sleep(10**6)",
    "fork bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    ),
    "memory bomb": "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))",
    "gigabyte of output": (
        "import sys\nchunk = 'x' * 65536\nfor _ in range(16384):\n    sys.stdout.write(chunk)"
    ),
    "binary garbage": "import os, sys\nsys.stdout.buffer.write(os.urandom(4096) + b'\\xff\\xfe')",
    "never reading stdin": "print('no input needed')",
    "killing the parent": (
        "import os, signal\nfor pid in (os.getppid(), 0, -1):\n    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\nprint('x')"
    ),
    "closing its pipes and lingering": "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)",
    "reading the wallets": (
        "import os\nfor root in ('/root/.bittensor', os.path.expanduser('~/.bittensor')):\n"
        "    for d, _, files in os.walk(root):\n        for f in files:\n"
        "            print(open(os.path.join(d, f)).read())"
    ),
    "opening a socket": "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)",
    "writing outside the run directory": "open('/etc/throne-pwned', 'w').write('x')",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_programs_score_zero_and_leave_the_validator_unharmed(
    name: str, ded: DedEnvironment, stdin_task: Task, sandbox: ForkServerSandbox
) -> None:
    result = ded.evaluate(stdin_task, _answer(HOSTILE[name]))
    assert result.score == 0.0, result.detail
    _assert_unharmed(sandbox)


def test_a_fork_bomb_is_contained_by_the_process_limit(sandbox: ForkServerSandbox) -> None:
    code = (
        "import os, time\nborn = 0\nfor _ in range(200):\n    try:\n        if os.fork() == 0:\n"
        "            time.sleep(30)\n            os._exit(0)\n        born += 1\n"
        "    except OSError:\n        break\nprint(born, flush=True)\ntime.sleep(30)"
    )
    result = sandbox.run(code)
    assert result.timed_out
    assert int(result.stdout.strip()) < sandbox.limits.processes
    _assert_unharmed(sandbox)


def test_output_beyond_the_cap_is_truncated(sandbox: ForkServerSandbox) -> None:
    result = sandbox.run(HOSTILE["gigabyte of output"])
    assert result.truncated and not result.clean
    assert len(result.stdout) == sandbox.limits.output_bytes
    assert result.duration_s < sandbox.limits.wall_s


def test_a_huge_unread_stdin_does_not_block_the_run(sandbox: ForkServerSandbox) -> None:
    result = sandbox.run("print('done')", "x" * (8 * 1024 * 1024))
    assert result.clean and result.stdout == "done\n"


def test_secrets_and_the_validators_files_cannot_be_read(
    sandbox: ForkServerSandbox, tmp_path: Path
) -> None:
    secret = tmp_path / "coldkey"
    secret.write_text("SECRET-MNEMONIC")
    secret.chmod(0o644)
    targets = [
        str(secret),
        str(Path.home() / ".bittensor" / "wallets"),
        os.path.expanduser("~/.bittensor"),
        str(Path.cwd() / "pyproject.toml"),
        f"/proc/{os.getpid()}/environ",
    ]
    code = (
        "import os\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        with open(path) as f:\n"
        "            print('READ', path, f.read())\n"
        "    except OSError as exc:\n"
        "        print('denied', type(exc).__name__)\n"
        f"print('home', sorted(os.listdir({str(Path.home())!r})))\n"
    )
    result = sandbox.run(code)
    assert "READ" not in result.stdout and "SECRET" not in result.stdout, result.stdout
    if ROOT:
        assert ".bittensor" not in result.stdout and "home [" in result.stdout


@pytest.fixture(scope="module")
def validator_files() -> Iterator[Path]:
    base = lay_out_validator_files()
    yield base
    shutil.rmtree(base)


def test_the_program_sees_only_the_interpreters_files_none_of_the_validators(
    sandbox: ForkServerSandbox, validator_files: Path
) -> None:
    held = sandbox.isolation
    if held["mount_ns"]:
        assert held["minimal_root"]
        result = sandbox.run(peeking_program(validator_files))
        assert result.exit_code == 0, result.stderr
        assert_nothing_seen(result.stdout, held["exposed"])
    else:  # no mount namespace, no root of its own: the check names it (throne check)
        assert held["exposed"] == ["/"]


def test_unmounting_and_breaking_out_of_a_chroot_stay_inside_the_minimal_root(
    sandbox: ForkServerSandbox,
) -> None:
    held = sandbox.isolation
    if not held["mount_ns"]:  # no root of its own to stay inside (throne check warns)
        assert not held["minimal_root"]
        return
    result = sandbox.run(ESCAPING_PROGRAM)
    assert_still_inside(result.stdout, held["exposed"])


def test_the_network_is_unreachable_even_on_loopback(sandbox: ForkServerSandbox) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(2.0)
    port = server.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            accepted.append(server.accept())

    thread = threading.Thread(target=accept)
    thread.start()
    code = (
        "import socket\n"
        f"for addr in [('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)]:\n"
        "    try:\n"
        "        socket.create_connection(addr, timeout=1).close()\n"
        "        print('connected', addr)\n"
        "    except OSError as exc:\n"
        "        print('refused', type(exc).__name__)\n"
    )
    result = sandbox.run(code)
    thread.join()
    server.close()
    assert "connected" not in result.stdout, result.stdout
    if sandbox.isolation["net_ns"]:
        assert accepted == []


def test_writes_outside_the_run_directory_fail_and_leave_nothing(
    sandbox: ForkServerSandbox, tmp_path: Path
) -> None:
    targets = [
        str(tmp_path / "pwned"),
        str(Path.cwd() / "pwned"),
        "/tmp/pwned",
        "/etc/pwned",
        str(Path.home() / "pwned"),
    ]
    code = (
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        with open(path, 'w') as f:\n"
        "            f.write('x')\n"
        "        print('WROTE', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', type(exc).__name__)\n"
        "open('inside.txt', 'w').write('fine')\n"
        "print(open('inside.txt').read())\n"
    )
    result = sandbox.run(code)
    assert result.stdout.endswith("fine\n")
    for path in targets:
        assert not Path(path).exists(), path
    if ROOT:
        assert "WROTE" not in result.stdout, result.stdout
