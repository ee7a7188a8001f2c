"""`LocalEngineHost`: miners' models served by an inference engine run as a child process here.

The engine is a command template (`throne.adapters.hosting.template`; ready-made ones for
SGLang, vLLM and ``transformers serve`` are in `throne.adapters.hosting.engines`). Each
deployment gets one GPU slot (a ``CUDA_VISIBLE_DEVICES`` group, or ``""`` for whatever the
machine has) and one port from the host's range, runs in a session and process group of its
own with its output in ``log_dir/<id>.log``, and is ready when ``GET {base_url}/models`` lists
the served model.

Every deployment is written down in ``state_dir/<id>.json`` *before* its engine starts, and
again once it has a pid and once it is ready, so a daemon stopped at any moment (SIGKILL
included) leaves enough for the next run's `LocalEngineHost.recover` to adopt what is ready and
end what is not: no engine is left running that no run owns, and no slot stays taken. An
engine is also marked by ``THRONE_DEPLOYMENT_ID=<id>`` in its environment, which finds it when
the daemon died between starting it and writing its pid down.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import structlog

from throne.adapters.hosting.processes import (
    ProcessId,
    end_group,
    group_is_ours,
    is_alive,
    marked_processes,
    start_time,
)
from throne.adapters.hosting.template import render_command, render_text
from throne.ports.model_host import (
    ROLES,
    Capacity,
    DeployFailed,
    Deployment,
    DeploymentSpec,
    Health,
    ModelHost,
    Probe,
    Role,
)

#: The fields a command template (and the served model name) may use.
FIELDS = ("model", "revision", "model_dir", "port", "host", "gpus", "gpu_count", "hotkey", "role")
#: The environment variable that marks an engine with its deployment's id.
MARKER = "THRONE_DEPLOYMENT_ID"
#: The daemon's own secrets, kept from engines (which may run a miner's remote code).
_WITHHELD = ("BT_WALLET_PASSWORD", "BT_WALLET_PASSWORD_FILE")
_PLACEHOLDERS: Mapping[str, object] = {
    "model": "org/model",
    "revision": "0" * 40,
    "model_dir": "/model",
    "port": 1,
    "host": "127.0.0.1",
    "gpus": "0",
    "gpu_count": 1,
    "hotkey": "hotkey",
    "role": "champion",
}
_ID = re.compile(r"[A-Za-z0-9_.-]+")
_PORT_IN_USE = re.compile(r"address already in use|errno 98|eaddrinuse", re.IGNORECASE)
_LOG_TAIL_BYTES = 2000
_ANSWER_TIMEOUT = 10.0


@dataclass
class _Running:
    """A deployment this host owns: its slot and port stay taken until its group is gone."""

    id: str
    slot: int
    port: int
    process: ProcessId
    deployment: Deployment
    #: the child, when this run started it (an adopted engine is not our child)
    child: subprocess.Popen[bytes] | None


class LocalEngineHost(ModelHost):
    """Runs one engine per deployment on this machine, one deployment per slot.

    ``environ`` is added to this process's environment for the engine (the daemon's wallet
    password is withheld). ``model_files`` (a model cache's fetch) gives ``{model_dir}``; an
    exception it raises with a ``reason`` attribute becomes that `DeployFailed` reason.
    ``stop_grace`` is how long an engine has between SIGTERM and SIGKILL.

    Call `recover` before the first `deploy` after a restart: until then the slots of the
    last run's engines look free.
    """

    def __init__(
        self,
        command: str,
        *,
        slots: Sequence[str] = ("",),
        ports: range = range(30000, 30100),
        bind: str = "127.0.0.1",
        served_model: str = "{model}",
        ready_timeout: float = 1800.0,
        state_dir: Path,
        log_dir: Path,
        environ: Mapping[str, str] | None = None,
        model_files: Callable[[str, str], Path] | None = None,
        poll: float = 0.5,
        stop_grace: float = 10.0,
    ) -> None:
        fields = dict(_PLACEHOLDERS)
        if model_files is None:
            # Without a model cache there is no folder to name.
            del fields["model_dir"]
        self._argv0 = render_command(command, fields)[0]
        render_text(served_model, fields)
        if not slots:
            raise ValueError("a local engine host needs at least one slot")
        if len(ports) == 0 or ports.start < 1 or ports.stop > 65536:
            raise ValueError(f"ports must be a non-empty range within 1..65535, got {ports}")
        if ready_timeout <= 0 or poll <= 0 or stop_grace < 0:
            raise ValueError("ready_timeout and poll must be > 0, stop_grace >= 0")
        self._command = command
        self._slots = tuple(slots)
        self._ports = ports
        self._bind = bind
        self._connect = _connect_host(bind)
        self._served_model = served_model
        self._ready_timeout = ready_timeout
        self._state_dir = Path(state_dir)
        self._log_dir = Path(log_dir)
        self._environ = dict(environ or {})
        self._model_files = model_files
        self._poll = poll
        self._stop_grace = stop_grace
        self._lock = threading.Lock()
        self._slot_owner: dict[int, str] = {}
        self._ports_taken: set[int] = set()
        self._next_port = 0
        self._running: dict[str, _Running] = {}
        #: engines spawned and not yet ready, by deployment id (`close` ends them)
        self._loading: dict[str, ProcessId] = {}
        self._closed = False
        self._http = httpx.Client(trust_env=False, timeout=_ANSWER_TIMEOUT)
        self.log = structlog.get_logger("throne.hosting")

    # -- the port -------------------------------------------------------------------------

    def deploy(self, spec: DeploymentSpec) -> Deployment:
        if self._closed:
            raise DeployFailed("host_closed", "the host is closed")
        started_at = time.time()
        deployment_id = _new_id(spec)
        slot = self._take_slot(deployment_id)
        port: int | None = None
        process: ProcessId | None = None
        child: subprocess.Popen[bytes] | None = None
        try:
            model_dir = self._fetch(spec)
            port = self._take_port()
            gpus = self._slots[slot]
            fields: dict[str, object] = {
                "model": spec.model,
                "revision": spec.revision,
                "model_dir": model_dir,
                "port": port,
                "host": self._bind,
                "gpus": gpus,
                # One when the slot names no GPU: an engine's --dp or --tp wants at least one.
                "gpu_count": max(1, len([g for g in gpus.split(",") if g.strip()])),
                "hotkey": spec.hotkey,
                "role": spec.role,
            }
            argv = render_command(self._command, fields)
            served = render_text(self._served_model, fields)
            base_url = f"http://{self._connect}:{port}/v1"
            log_path = self._log_dir / f"{deployment_id}.log"
            state: dict[str, Any] = {
                "id": deployment_id,
                "phase": "starting",
                "pid": None,
                "pgid": None,
                "start_time": None,
                "port": port,
                "slot": slot,
                "gpus": gpus,
                "spec": _spec_dict(spec),
                "base_url": base_url,
                "served_model": served,
                "started_at": started_at,
                "ready_at": None,
                "log": str(log_path),
            }
            self._write_state(deployment_id, state)
            with self._lock:
                # Under the lock that `close` takes: no engine starts once the host is closed.
                if self._closed:
                    raise DeployFailed("host_closed", "the host was closed during the deploy")
                child = self._spawn(argv, gpus, deployment_id, log_path)
                process = ProcessId(child.pid, start_time(child.pid) or -1)
                self._loading[deployment_id] = process
            state.update(pid=process.pid, pgid=process.pgid, start_time=process.start_time)
            self._write_state(deployment_id, state)
            self._wait_ready(child, base_url, served, port, log_path)
            ready_at = time.time()
            state.update(phase="ready", ready_at=ready_at)
            self._write_state(deployment_id, state)
            deployment = _deployment(state)
            with self._lock:
                if self._closed:  # `close` ended it as it became ready
                    raise DeployFailed("host_closed", "the host was closed during the deploy")
                del self._loading[deployment_id]
                self._running[deployment_id] = _Running(
                    deployment_id, slot, port, process, deployment, child
                )
        except BaseException as exc:
            with self._lock:
                self._loading.pop(deployment_id, None)
            if process is not None:
                end_group(process, self._stop_grace)
            if child is not None:
                _reap(child)
            self._remove_state(deployment_id)
            self._free(slot, port)
            reason = exc.reason if isinstance(exc, DeployFailed) else type(exc).__name__
            self.log.warning(
                "deploy_failed", id=deployment_id, model=spec.model, reason=reason, detail=str(exc)
            )
            raise
        self.log.info(
            "deployed",
            id=deployment_id,
            model=spec.model,
            revision=spec.revision,
            role=spec.role,
            base_url=base_url,
            ready_s=round(deployment.ready_seconds, 3),
        )
        return deployment

    def health(self, deployment: Deployment) -> Health:
        with self._lock:
            running = self._running.get(deployment.id)
        if running is None:
            return Health(False, "not_deployed")
        if running.child is not None:
            code = running.child.poll()
            if code is not None:
                return Health(False, f"exited:{code}")
        elif not is_alive(running.process):
            return Health(False, "exited:unknown")
        trouble = self._lists(running.deployment.base_url, running.deployment.served_model)
        if trouble is None:
            return Health(True)
        # An engine that dies while asked stops answering first: say it exited once it has.
        if running.child is not None and (code := running.child.poll()) is not None:
            return Health(False, f"exited:{code}")
        return Health(False, trouble if trouble == "model_missing" else f"not_answering:{trouble}")

    def teardown(self, deployment: Deployment) -> None:
        if not _ID.fullmatch(deployment.id):
            return
        with self._lock:
            running = self._running.pop(deployment.id, None)
        if running is not None:
            end_group(running.process, self._stop_grace)
            if running.child is not None:
                _reap(running.child)
            self._remove_state(deployment.id)
            self._free(running.slot, running.port)
        else:
            # Not ours in memory: perhaps left by a run that was never recovered.
            state = self._read_state(self._state_dir / f"{deployment.id}.json")
            if state is not None:
                self._end_recorded(deployment.id, state)
            self._remove_state(deployment.id)
        self.log.info("torn_down", id=deployment.id, model=deployment.model)

    def capacity(self) -> Capacity:
        with self._lock:
            return Capacity(len(self._slots), len(self._slots) - len(self._slot_owner))

    def preflight(self) -> list[Probe]:
        return [
            _probe("slots", self._probe_slots),
            _probe("engine command", self._probe_engine),
            _probe("state dir", lambda: _probe_writable("state dir", self._state_dir)),
            _probe("log dir", lambda: _probe_writable("log dir", self._log_dir)),
            _probe("ports", self._probe_ports),
        ]

    def recover(self) -> list[Deployment]:
        adopted: list[Deployment] = []
        if not self._state_dir.is_dir():
            return adopted
        for path in sorted(self._state_dir.glob("*.json")):
            deployment_id = path.stem
            with self._lock:
                if deployment_id in self._running:
                    continue
            state = self._read_state(path)
            running = self._adoptable(deployment_id, state) if state is not None else None
            if running is None:
                if state is not None:
                    self._end_recorded(deployment_id, state)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                self.log.info("recover_removed", id=deployment_id)
                continue
            adopted.append(running.deployment)
            self.log.info("recover_adopted", id=deployment_id, model=running.deployment.model)
        return adopted

    def close(self) -> None:
        """No engine starts after this: a deploy in flight fails with ``host_closed`` and
        its engine, if it was loading, is ended (a loading engine cannot be adopted). Ready
        deployments are left running for `recover`; `teardown` still stops them."""
        with self._lock:
            self._closed = True
            loading = list(self._loading.values())
        for process in loading:
            end_group(process, self._stop_grace)
        self._http.close()

    def deployments(self) -> list[Deployment]:
        """The deployments this host owns now (deployed or adopted, not yet torn down)."""
        with self._lock:
            return [running.deployment for running in self._running.values()]

    # -- deploying ------------------------------------------------------------------------

    def _take_slot(self, deployment_id: str) -> int:
        with self._lock:
            for index in range(len(self._slots)):
                if index not in self._slot_owner:
                    self._slot_owner[index] = deployment_id
                    return index
        raise DeployFailed("no_slot_free", f"all {len(self._slots)} slots are in use")

    def _take_port(self) -> int:
        """The next port of the range that no deployment holds and that binds now; taken
        round-robin, so a port just freed (its connections in TIME_WAIT) rests a while."""
        count = len(self._ports)
        with self._lock:
            for step in range(count):
                index = (self._next_port + step) % count
                port = self._ports[index]
                if port in self._ports_taken or not _port_free(self._bind, port):
                    continue
                self._ports_taken.add(port)
                self._next_port = (index + 1) % count
                return port
        raise DeployFailed(
            "port_taken",
            f"no free port in {self._ports.start}-{self._ports.stop - 1} on {self._bind}",
        )

    def _free(self, slot: int, port: int | None) -> None:
        with self._lock:
            self._slot_owner.pop(slot, None)
            if port is not None:
                self._ports_taken.discard(port)

    def _fetch(self, spec: DeploymentSpec) -> str:
        if self._model_files is None:
            return ""
        try:
            return str(self._model_files(spec.model, spec.revision))
        except Exception as exc:
            reason = getattr(exc, "reason", None)
            if isinstance(reason, str) and reason:
                raise DeployFailed(reason, str(getattr(exc, "detail", "") or exc)) from exc
            raise DeployFailed("model_files_failed", f"{type(exc).__name__}: {exc}") from exc

    def _child_environ(self, gpus: str, deployment_id: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _WITHHELD}
        env.update(self._environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus
        env[MARKER] = deployment_id
        return env

    def _spawn(
        self, argv: list[str], gpus: str, deployment_id: str, log_path: Path
    ) -> subprocess.Popen[bytes]:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            try:
                return subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._child_environ(gpus, deployment_id),
                    start_new_session=True,
                    close_fds=True,
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
                raise DeployFailed("engine_missing", f"{argv[0]}: {exc.strerror}") from None

    def _wait_ready(
        self,
        child: subprocess.Popen[bytes],
        base_url: str,
        served: str,
        port: int,
        log_path: Path,
    ) -> None:
        deadline = time.monotonic() + self._ready_timeout
        trouble = "not asked yet"
        while True:
            if self._closed:  # `close` ends the engine; the deploy says why it ended
                raise DeployFailed("host_closed", "the host was closed during the deploy")
            code = child.poll()
            if code is not None:
                raise self._exited(code, port, log_path)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeployFailed(
                    f"never_ready:{self._ready_timeout:g}s",
                    f"last answer: {trouble}; {_log_tail(log_path)}",
                )
            trouble = self._lists(base_url, served, timeout=min(_ANSWER_TIMEOUT, remaining)) or ""
            if not trouble:
                # Answered: by our engine only if it is still running (not by a stranger that
                # held the port while the engine failed to bind it).
                code = child.poll()
                if code is not None:
                    raise self._exited(code, port, log_path)
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.0, min(self._poll, deadline - time.monotonic())))

    def _exited(self, code: int, port: int, log_path: Path) -> DeployFailed:
        if self._closed:  # ended by `close`, not by its own fault
            return DeployFailed("host_closed", "the host was closed during the deploy")
        tail = _log_tail(log_path)
        if _PORT_IN_USE.search(tail) or not _port_free(self._bind, port):
            return DeployFailed("port_taken", f"port {port} on {self._bind}; {tail}")
        return DeployFailed(f"exited:{code}", tail)

    def _lists(self, base_url: str, served: str, timeout: float = _ANSWER_TIMEOUT) -> str | None:
        """None when ``GET {base_url}/models`` lists ``served``, else why not, in a word."""
        try:
            answer = self._http.get(f"{base_url}/models", timeout=timeout)
        except RuntimeError:  # the client is closed: so is the host
            return "host_closed"
        except httpx.TimeoutException:
            return "timeout"
        except httpx.ConnectError:
            return "refused"
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if answer.status_code != 200:
            return f"status_{answer.status_code}"
        try:
            listed = answer.json()["data"]
            ids = {m.get("id") for m in listed if isinstance(m, dict)}
        except (ValueError, KeyError, TypeError):
            return "bad_body"
        return None if served in ids else "model_missing"

    # -- state ----------------------------------------------------------------------------

    def _write_state(self, deployment_id: str, state: Mapping[str, Any]) -> None:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        path = self._state_dir / f"{deployment_id}.json"
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(state, default=str, sort_keys=True))
        os.replace(partial, path)

    def _remove_state(self, deployment_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self._state_dir / f"{deployment_id}.json").unlink()

    def _read_state(self, path: Path) -> dict[str, Any] | None:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def _adoptable(self, deployment_id: str, state: Mapping[str, Any]) -> _Running | None:
        """The recorded deployment, taken over, if it was ready, is running, still fits this
        host's slots and ports, and lists its model now; else None."""
        try:
            if state.get("phase") != "ready":
                return None
            process = ProcessId(int(state["pid"]), int(state["start_time"]))
            slot, port = int(state["slot"]), int(state["port"])
            deployment = _deployment(state)
        except (KeyError, TypeError, ValueError):
            return None
        if deployment.id != deployment_id or not is_alive(process):
            return None
        if not 0 <= slot < len(self._slots) or self._slots[slot] != state.get("gpus"):
            return None
        if self._lists(deployment.base_url, deployment.served_model) is not None:
            return None
        with self._lock:
            if slot in self._slot_owner or port in self._ports_taken:
                return None
            self._slot_owner[slot] = deployment_id
            self._ports_taken.add(port)
            running = _Running(deployment_id, slot, port, process, deployment, None)
            self._running[deployment_id] = running
        return running

    def _end_recorded(self, deployment_id: str, state: Mapping[str, Any]) -> None:
        """End whatever engine a state file names: its group if the pid was written down
        (and is still that process's group), and any process marked with its id."""
        try:
            process = ProcessId(int(state["pid"]), int(state["start_time"]))
        except (KeyError, TypeError, ValueError):
            process = None
        if process is not None and group_is_ours(process):
            end_group(process, self._stop_grace)
        for marked in marked_processes(MARKER, deployment_id):
            end_group(marked, self._stop_grace)

    # -- preflight ------------------------------------------------------------------------

    def _probe_slots(self) -> Probe:
        capacity = self.capacity()
        return Probe("slots", capacity.free > 0, f"slots free {capacity.free} of {capacity.total}")

    def _probe_engine(self) -> Probe:
        found = _find_command(self._argv0, self._child_environ("", "").get("PATH"))
        if found is None:
            return Probe("engine command", False, f"engine command not found: {self._argv0}")
        return Probe("engine command", True, f"engine command found: {found}")

    def _probe_ports(self) -> Probe:
        with self._lock:
            taken = set(self._ports_taken)
        for port in self._ports:
            if port not in taken and _port_free(self._bind, port):
                return Probe("ports", True, f"port {port} free on {self._bind}")
        span = f"{self._ports.start}-{self._ports.stop - 1}"
        return Probe("ports", False, f"no free port in {span} on {self._bind}")


def _new_id(spec: DeploymentSpec) -> str:
    """A name safe as a file name, readable in a log, and unique across runs."""
    hotkey = re.sub(r"[^A-Za-z0-9]", "", spec.hotkey)[:12] or "miner"
    return f"{spec.role}-{hotkey}-{secrets.token_hex(4)}"


def _spec_dict(spec: DeploymentSpec) -> dict[str, Any]:
    return {
        "hotkey": spec.hotkey,
        "model": spec.model,
        "revision": spec.revision,
        "role": spec.role,
        "extra": dict(spec.extra),
    }


def _deployment(state: Mapping[str, Any]) -> Deployment:
    spec = state["spec"]
    role = spec["role"]
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    checked: Role = role
    return Deployment(
        id=str(state["id"]),
        hotkey=str(spec["hotkey"]),
        model=str(spec["model"]),
        revision=str(spec["revision"]),
        role=checked,
        base_url=str(state["base_url"]),
        served_model=str(state["served_model"]),
        started_at=float(state["started_at"]),
        ready_at=float(state["ready_at"]),
        log=state.get("log"),
    )


def _connect_host(bind: str) -> str:
    """Where to reach an engine bound to ``bind``: an any-address bind answers on loopback."""
    if bind in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bind == "::":
        return "[::1]"
    return f"[{bind}]" if ":" in bind else bind


def _port_free(bind: str, port: int) -> bool:
    """Whether an engine could listen on ``port`` now. SO_REUSEADDR as servers set it, so a
    port whose last connections linger in TIME_WAIT counts as free, and a listener does not."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind or "0.0.0.0", port))
        except OSError:
            return False
    return True


def _reap(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=5.0)


def _log_tail(path: Path) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _LOG_TAIL_BYTES))
            tail = log.read().decode("utf-8", "replace").strip()
    except OSError:
        return f"no log at {path}"
    return f"log {path}: ...{tail[-500:]}" if tail else f"log {path} is empty"


def _find_command(argv0: str, path: str | None) -> str | None:
    if "/" in argv0:
        candidate = Path(argv0)
        return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    return shutil.which(argv0, path=path)


def _probe(name: str, check: Callable[[], Probe]) -> Probe:
    try:
        return check()
    except Exception as exc:
        return Probe(name, False, f"{type(exc).__name__}: {exc}")


def _probe_writable(name: str, directory: Path) -> Probe:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe-{secrets.token_hex(4)}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Probe(name, False, f"{directory} not writable: {exc.strerror}")
    return Probe(name, True, f"{directory} writable")
