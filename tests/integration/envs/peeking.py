"""A validator's private files, laid out where a real one keeps them, and a program that tries
to read them and everything else of the host a program has no business seeing."""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path

import throne

CHECKOUT = Path(throne.__file__).resolve().parent.parent
# Beyond what the interpreter needs, /etc holds nothing at all for a program.
ETC_ALLOWED = {"ld.so.cache", "localtime"}


def lay_out_validator_files() -> Path:
    """Config file (with the database password), data directory (with the log) and a home with
    its wallet, all world-readable, in a directory no sandbox binds: only the sandbox's root
    can keep them out, whatever uid a program runs as."""
    parent = "/var/lib" if os.access("/var/lib", os.W_OK) else "/var/tmp"
    base = Path(tempfile.mkdtemp(prefix="throne-peek-", dir=parent))
    files = {
        "etc/throne.toml": '[validator]\ndb = "postgresql://throne:SECRET-DB-PASSWORD@db/throne"\n',
        "data/log.sqlite": "SECRET-LOG",
        "home/.bittensor/wallets/default/coldkey": "SECRET-MNEMONIC",
    }
    for name, text in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return base


def peeking_program(base: Path) -> str:
    """Prints ``READ path`` or ``LISTED path`` for whatever it gets at, ``ETC [...]`` for what
    /etc holds, and ``denied`` for the rest."""
    files = [
        CHECKOUT / "pyproject.toml",
        CHECKOUT / "throne" / "__init__.py",
        "/etc/passwd",
        "/etc/shadow",
        "/etc/hostname",
        base / "etc" / "throne.toml",
        base / "data" / "log.sqlite",
        base / "home" / ".bittensor" / "wallets" / "default" / "coldkey",
        Path.home() / ".bittensor" / "wallets",
        "/root/.bittensor",
    ]
    directories = [CHECKOUT, "/opt", "/var/lib", "/var", "/home", "/root", base, base / "data",
                   Path.home() / ".bittensor"]  # fmt: skip
    return (
        "import os\n"
        f"for path in {[str(p) for p in files]!r}:\n"
        "    try:\n"
        "        with open(path) as f:\n"
        "            print('READ', path, f.read(200))\n"
        "    except OSError:\n"
        "        print('denied')\n"
        f"for path in {[str(p) for p in directories]!r}:\n"
        "    try:\n"
        "        print('LISTED', path, os.listdir(path))\n"
        "    except OSError:\n"
        "        print('denied')\n"
        "print('ETC', sorted(os.listdir('/etc')))\n"
    )


def assert_nothing_seen(stdout: str, exposed: list[str]) -> None:
    """Nothing read, and nothing listed but the way down to what the root exposes (the
    interpreter may live under /root, say: then /root holds that one path and nothing else)."""
    lines = stdout.splitlines()
    assert lines and lines[-1].startswith("ETC "), stdout
    assert not [line for line in lines if line.startswith("READ")], stdout
    assert "SECRET" not in stdout, stdout
    for line in lines:
        if line.startswith("LISTED "):
            _, path, names = line.split(" ", 2)
            for name in ast.literal_eval(names):
                entry = os.path.join(path, name)
                assert any(e == entry or e.startswith(entry + os.sep) for e in exposed), line
    etc = set(ast.literal_eval(lines[-1][4:]))
    assert etc <= ETC_ALLOWED, etc


# Unmount what covers the host, mount a proc of its own, then take a user namespace of its own
# (allowed to anyone) and break out of a chroot the classic way: still inside the minimal root.
ESCAPING_PROGRAM = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for target in (b"/proc", b"/tmp", b"/", b"/etc/ld.so.cache"):
    print("umount", target.decode(), libc.umount2(target, 2) == 0)
print("mount proc", libc.mount(b"proc", b"/tmp", b"proc", 0, None) == 0)
print("own namespaces", libc.unshare(0x00020000 | 0x10000000) == 0)
os.makedirs("jail/inner", exist_ok=True)
if libc.chroot(b"jail/inner") == 0:
    for _ in range(64):
        os.chdir("..")
    libc.chroot(b".")
try:
    print("READ", open("/etc/passwd").read(40))
except OSError:
    print("denied")
print("PIDS", sorted(p for p in os.listdir("/proc") if p.isdigit()))
print("ROOT", sorted(os.listdir("/")))
"""


def assert_still_inside(stdout: str, exposed: list[str]) -> None:
    lines = stdout.splitlines()
    assert [line for line in lines if line.startswith(("umount", "mount"))] == [
        "umount /proc False", "umount /tmp False", "umount / False",
        "umount /etc/ld.so.cache False", "mount proc False",
    ], stdout  # fmt: skip
    assert "denied" in lines and not [line for line in lines if line.startswith("READ")], stdout
    assert "PIDS ['1']" in lines, stdout
    root = set(ast.literal_eval(next(line[5:] for line in lines if line.startswith("ROOT "))))
    tops = {e.strip(os.sep).split(os.sep)[0] for e in exposed}
    assert root <= tops | {"bin", "sbin", "lib", "lib64", "dev", "proc", "tmp"}, root
