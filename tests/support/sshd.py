"""A throwaway OpenSSH server on loopback, for tests of what runs over SSH.

Debian's ``sshd`` (openssh-server, which ``make test`` installs) runs in the foreground with no
configuration file but the options given: one port on 127.0.0.1, a host key and a user key made
for it, and only that key let in. Clients get a known-hosts file naming the host key, so they
connect with strict host key checking and never prompt. It logs in as the user running the
tests (root in CI).
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import LOOPBACK, free_port

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    user: str
    #: the key the server lets in
    key: Path
    #: a key it does not know
    stranger_key: Path
    known_hosts: Path
    log: Path


def keygen(path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "throne-test", "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


@contextmanager
def running_sshd(directory: Path, *, timeout: float = 20.0) -> Iterator[Sshd]:
    """An sshd on a free loopback port until the block ends; its files live in ``directory``."""
    sshd = shutil.which("sshd") or SSHD
    if not Path(sshd).exists() or shutil.which("ssh") is None:
        raise RuntimeError("sshd and ssh are needed: `make test` installs openssh-server")
    directory.mkdir(parents=True, exist_ok=True)
    host_key = keygen(directory / "host_key")
    key = keygen(directory / "user_key")
    stranger = keygen(directory / "stranger_key")
    authorized = directory / "authorized_keys"
    authorized.write_text(Path(f"{key}.pub").read_text())
    authorized.chmod(0o600)
    port = free_port()
    known_hosts = directory / "known_hosts"
    host_public = Path(f"{host_key}.pub").read_text().split()
    known_hosts.write_text(f"[{LOOPBACK}]:{port} {host_public[0]} {host_public[1]}\n")
    # Privilege separation wants this directory, which only the service's own start makes.
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log = directory / "sshd.log"
    options = {
        "Port": str(port),
        "ListenAddress": LOOPBACK,
        "HostKey": str(host_key),
        "AuthorizedKeysFile": str(authorized),
        "PidFile": str(directory / "sshd.pid"),
        "StrictModes": "no",
        "PasswordAuthentication": "no",
        "KbdInteractiveAuthentication": "no",
        "UsePAM": "no",
        "PermitRootLogin": "prohibit-password",
        "MaxStartups": "100",
    }
    argv = [sshd, "-D", "-e", "-f", "/dev/null"]
    for name, value in options.items():
        argv += ["-o", f"{name}={value}"]
    with log.open("wb") as out:
        server = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    user = getpass.getuser()
    try:
        ready = Sshd(port, user, key, stranger, known_hosts, log)
        _wait_until_it_answers(server, ready, timeout)
        yield ready
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def ssh_argv(server: Sshd, *command: str) -> list[str]:
    """The ssh client's arguments to run ``command`` on ``server`` as the tests do."""
    return [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={server.known_hosts}",
        "-o", "IdentitiesOnly=yes",
        "-i", str(server.key),
        "-p", str(server.port),
        "-l", server.user,
        LOOPBACK,
        *command,
    ]  # fmt: skip


def _wait_until_it_answers(server: subprocess.Popen[bytes], sshd: Sshd, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"sshd exited {server.returncode}: {sshd.log.read_text()[-2000:]}")
        done = subprocess.run(
            ssh_argv(sshd, "true"), stdin=subprocess.DEVNULL, capture_output=True, timeout=30
        )
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd never let the test key in: {done.stderr.decode()[-500:]}")
        time.sleep(0.1)
