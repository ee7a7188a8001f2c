"""`throne check`: what a validator needs before `throne run`, each part tried for real.

Each check says ``ok``, ``warn`` (the daemon runs, but something is missing: say, the validator
is not registered yet, so it sets no weights) or ``fail`` (the daemon would not run). Nothing is
created or written: a missing log or pool secret is reported where `throne run` would create it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


def register(sub: Any) -> None:
    from throne.cli.run import _add_config_options

    p: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="check what the daemon needs: log, chain, registration, sandbox, hub, miners",
        description=(
            "Try each part `throne run` depends on, as configured, without writing anything: "
            "the event log, the chain and the validator's registration, the pool secret, the "
            "program sandbox's isolation, the model hub, and the way to the miners' models. "
            "Exit 0 unless a part would stop the daemon (warnings allowed), else 1."
        ),
    )
    _add_config_options(p)
    p.add_argument(
        "--offline",
        action="store_true",
        help="skip the checks that reach other machines (the model hub, the inference gateway)",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from throne.cli.run import load

    settings = load(args)
    online = not args.offline
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("event log", lambda: _event_log(settings)),
        ("chain", lambda: _chain(settings)),
        *([("signer", lambda: _signer(settings))] if settings.validator.signer_url else []),
        ("pool secret", lambda: _pool_secret(settings)),
        ("sandbox", lambda: _sandbox(settings)),
    ]
    if online:
        checks.append(("model hub", lambda: _model_hub(settings)))
    if settings.hosting.host == "static":
        checks.append(("inference", lambda: _inference(settings, connect=online)))
    results = []
    for name, check in checks:
        try:
            results.append(check())
        except Exception as exc:  # a check must report, never crash the command
            results.append(Check(name, "fail", f"{type(exc).__name__}: {exc}"))
    if settings.hosting.host != "static":
        results.extend(host_checks(settings))
    failed = any(c.status == "fail" for c in results)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(c) for c in results]}))
    else:
        width = max(len(c.name) for c in results)
        for c in results:
            print(f"{c.status:<4}  {c.name:<{width}}  {c.detail}")
    return 1 if failed else 0


def host_checks(settings: Any, host: Any = None) -> list[Check]:
    """The host's own probes (``ModelHost.preflight``: slots free, the engine command found,
    each SSH box reachable, the Chutes API answering), one check each, named ``host: NAME``."""
    from throne.app import open_model_host

    kind = settings.hosting.host
    try:
        if host is None:
            choice = open_model_host(settings)
            assert choice is not None
            host = choice.host
        try:
            probes = host.preflight()
        finally:
            host.close()
    except Exception as exc:  # a host that cannot be built is this check's failure
        return [Check(f"host ({kind})", "fail", f"{type(exc).__name__}: {exc}")]
    if not probes:
        return [Check(f"host ({kind})", "warn", "the host reported no probes")]
    return [Check(f"host: {p.name}", "ok" if p.ok else "fail", p.detail) for p in probes]


def _event_log(settings: Any) -> Check:
    from throne.adapters.storage.database import (
        StorageError,
        check_database,
        resolve_database,
    )
    from throne.adapters.storage.identity import claim_sqlite_log
    from throne.adapters.storage.integrity import check_integrity
    from throne.adapters.storage.location import sqlite_location_problem
    from throne.app import creates_log_directory

    name = "event log"
    try:
        db = resolve_database(settings.validator.db or None)
        if db.backend == "sqlite" and db.path is not None:
            problem = sqlite_location_problem(db.path, create_parent=creates_log_directory(db))
            if problem is not None:
                return Check(name, "fail", problem)
            if not db.path.exists():
                return Check(name, "warn", f"{db.path} does not exist yet: `throne run` creates it")
        check_database(db, must_exist=True)
        if db.backend == "sqlite":
            # What `throne run` refuses at start, asked read-only: nothing is written or marked.
            claim_sqlite_log(db.readonly())
            check_integrity(db)
    except StorageError as exc:
        return Check(name, "fail", str(exc))
    return Check(name, "ok", db.display)


def _chain(settings: Any) -> Check:
    from throne.app import open_chain
    from throne.ports.chain import ChainError
    from throne.ports.signer import SignerUnavailable

    v = settings.validator
    try:
        chain = open_chain(v)
    except ChainError as exc:
        return Check("chain", "fail", str(exc))
    try:
        block = chain.current_block()
        snapshot = chain.snapshot(v.netuid)
        where = f"{v.chain} at block {block}, subnet {v.netuid}"
        try:
            hotkey = chain.signer_hotkey
        except SignerUnavailable:  # the signer's own check says why
            return Check("chain", "warn", f"{where}: the validator's hotkey is the signer's")
    except ChainError as exc:
        return Check("chain", "fail", f"{v.chain}: {exc}")
    finally:
        chain.close()
    uid = snapshot.uid_of(hotkey)
    if uid is None:
        return Check(
            "chain",
            "warn",
            f"{where}: the validator {hotkey} is not registered (no weights until it is)",
        )
    return Check("chain", "ok", f"{where}: the validator {hotkey} is uid {uid}")


def _signer(settings: Any) -> Check:
    """The signer ``signer_url`` names: reachable, the token accepted, the key loaded, the
    subnet the daemon's."""
    from throne.app import StartupError, open_signer_client
    from throne.ports.chain import ChainError

    v = settings.validator
    try:
        client = open_signer_client(v)
    except StartupError as exc:
        return Check("signer", "fail", str(exc))
    try:
        health = client.health()
    except ChainError as exc:  # unreachable, slow, or the token refused
        return Check("signer", "fail", str(exc))
    finally:
        client.close()
    if not health.key_loaded:
        return Check("signer", "fail", f"{v.signer_url}: the signer has no key loaded")
    if health.netuid != v.netuid or health.chain != v.chain:
        return Check(
            "signer",
            "fail",
            f"{v.signer_url} sets weights on {health.chain} subnet {health.netuid}, but the "
            f"daemon runs on {v.chain} subnet {v.netuid}",
        )
    return Check(
        "signer",
        "ok",
        f"{v.signer_url} holds the hotkey {health.hotkey} (key loaded), checkpoints signed "
        f"as {health.checkpoint_signer}",
    )


def _pool_secret(settings: Any) -> Check:
    from throne.daemon.pool_seed import PoolSecretError, read_secret

    path = settings.validator.pool_secret_path
    name = "pool secret"
    try:
        secret = read_secret(path)
    except PoolSecretError as exc:
        return Check(name, "fail", str(exc))
    if secret is None:
        parent = _nearest_existing(path.parent)
        if not os.access(parent, os.W_OK):
            return Check(name, "fail", f"{path} does not exist and {parent} is not writable")
        return Check(name, "ok", f"{path} is created on the first run")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Check(name, "warn", f"{path} is readable by others (mode {mode:o}; chmod 600)")
    return Check(name, "ok", str(path))


def _sandbox(_settings: Any) -> Check:
    from throne.app import open_sandbox
    from throne.ports.sandbox import SandboxUnavailable

    box = open_sandbox()
    try:
        iso = box.isolation
        result = box.run("print(6 * 7)")
    except SandboxUnavailable as exc:
        return Check("sandbox", "fail", str(exc))
    finally:
        box.close()
    if result.stdout != "42\n":
        return Check("sandbox", "fail", f"a trivial program failed: {result.stderr.strip()[:200]}")
    held = [k for k in ("user_ns", "net_ns", "mount_ns", "pid_ns") if iso.get(k)]
    who = "as root, programs under their own uids" if iso.get("root") else "without root"
    caps = RUN_LIMITS.get(iso.get("run_limits", ""), "unknown")
    if not (iso.get("net_ns") and iso.get("mount_ns")):
        return Check(
            "sandbox",
            "warn",
            f"{who}; no network or mount namespace here, so miners' programs could reach the "
            f"network or the validator's files; run-wide caps: {caps}",
        )
    return Check(
        "sandbox",
        "ok",
        f"{who}; namespaces: {', '.join(held)}; minimal root; run-wide caps: {caps}",
    )


# How the sandbox holds a run's memory and CPU time as a whole (docs/envs.md, "Sandbox").
RUN_LIMITS = {
    "cgroup2": "cgroup v2",
    "cgroup1": "cgroup v1 (memory, pids, cpuacct)",
    "proc": "sampled from /proc (no writable cgroup)",
}


def _model_hub(settings: Any) -> Check:
    import ssl

    import httpx

    from throne.daemon.settings import SettingsError

    hub = settings.model_hub
    kind = hub.resolved_kind(settings.validator.chain)
    if kind == "none":
        if settings.validator.chain == "local":
            return Check("model hub", "ok", "none on the local chain")
        return Check("model hub", "warn", "none: copies of other miners' weights go undetected")
    try:
        endpoint = hub.resolved_endpoint(os.environ)
    except SettingsError as exc:
        return Check("model hub", "fail", str(exc))
    token = hub.resolved_token(os.environ)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # The system's trust store, as the daemon's hub client uses; the proxy settings of the
    # environment are followed; a redirect to another host does not carry the token.
    client = httpx.Client(
        timeout=hub.timeout_seconds, verify=ssl.create_default_context(), follow_redirects=True
    )
    try:
        # The status is the answer: the body is not read.
        with (
            client,
            client.stream(
                "GET", f"{endpoint.rstrip('/')}/api/models", params={"limit": 1}, headers=headers
            ) as response,
        ):
            status = response.status_code
    except httpx.HTTPError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return Check("model hub", "warn", f"{endpoint} unreachable ({reason}): copies go "
                     "undetected until it is")  # fmt: skip
    if status >= 400:
        return Check("model hub", "warn", f"{endpoint} answered {status}")
    with_token = " with a token" if token else ""
    return Check("model hub", "ok", f"{endpoint} reachable{with_token}")


def _inference(settings: Any, *, connect: bool) -> Check:
    config = settings.inference
    gateway = config.get("gateway")
    routes = config.get("routes") or {}
    if not gateway and not routes:
        return Check(
            "inference",
            "fail",
            "[inference] has no gateway and no routes: no miner's model can be reached, so "
            "every challenger would end unservable",
        )
    if not gateway:
        return Check("inference", "ok", f"{len(routes)} route(s), no gateway")
    if not connect:
        return Check("inference", "ok", f"gateway {gateway} (not tried: --offline)")
    parts = urllib.parse.urlsplit(str(gateway))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=5):
            pass
    except OSError as exc:
        return Check("inference", "fail", f"gateway {gateway} unreachable: {exc.strerror or exc}")
    return Check("inference", "ok", f"gateway {gateway} accepts connections")


def _nearest_existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
