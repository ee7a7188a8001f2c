"""`SshEngineHost`: the engine command run on GPU boxes reached over SSH.

Each box is reached with the ``ssh`` client (openssh-client) in batch mode: a key, a known
hosts file, a connect timeout, and never a prompt, so a daemon without a terminal never hangs
on one. Every call is one ``ssh`` process running one short script (`remote_scripts`); no
connection is held, so a box that reboots or a network that drops costs one failed call, not a
broken session.

On a box, a deployment's engine runs detached in its own session and process group, its
output in ``<remote_dir>/<id>.log`` and its pid, group and start time in
``<remote_dir>/<id>.json``. Here, ``<state_dir>/<id>.json`` names the deployment before
anything starts on the box, so a daemon killed at any point (SIGKILL included) finds it again:
`recover` adopts what is alive and ready, and ends and removes the rest, as well as any record
on a box that no local state names.

Ready means ``GET http://{box.host}:{port}/v1/models`` lists the served model. The host
allocates a slot (a ``CUDA_VISIBLE_DEVICES`` group of a box) and a port of ``ports`` on that
box to each deployment.

Reasons of `DeployFailed`: ``ssh_unreachable`` (connection refused, timed out, name not
resolved), ``ssh_key_refused`` (the box said Permission denied), ``ssh_host_unknown`` (the
box's host key is not the known one), ``engine_missing``, ``exited:<code>``,
``never_ready:<s>s``, ``port_taken``, ``no_slot_free``.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from throne.adapters.hosting import remote_scripts
from throne.adapters.hosting.answers import NotListing, listed_models
from throne.adapters.hosting.template import TemplateError, render_command, template_fields
from throne.ports.model_host import (
    ROLES,
    Capacity,
    DeployFailed,
    Deployment,
    DeploymentSpec,
    Health,
    Probe,
    Role,
)

#: the fields a command template may use on an SSH box (no ``{model_dir}``: nothing is
#: downloaded for the box; the engine fetches the model itself)
FIELDS = ("model", "revision", "port", "host", "gpus", "gpu_count", "hotkey", "role")
#: the address the engine listens on: every interface of the box, so the validator reaches it
BIND_ALL = "0.0.0.0"
#: seconds a remote script may run past the connect timeout (a teardown waits for the group)
SCRIPT_SECONDS = 60.0


@dataclass(frozen=True)
class SshBox:
    """One GPU box: where to reach it, as whom, with which key, and its GPU slots (each a
    ``CUDA_VISIBLE_DEVICES`` value; ``""`` leaves the variable unset)."""

    name: str
    host: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None
    slots: Sequence[str] = ("",)
    known_hosts: Path | None = None


class SshFailed(Exception):
    """An SSH call that did not reach the box's shell; ``reason`` is one of the deploy
    reasons (``ssh_unreachable``, ``ssh_key_refused``, ``ssh_host_unknown``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class _Placement:
    box: str
    slot: str
    port: int


class SshEngineHost:
    """A `ModelHost` running ``command`` (a template, see `template.render_command`) on
    ``boxes``. Thread-safe: the scheduler deploys from several threads."""

    def __init__(
        self,
        command: str,
        *,
        boxes: Sequence[SshBox],
        ports: range,
        served_model: str = "{model}",
        ready_timeout: float,
        state_dir: Path,
        remote_dir: str = "~/.throne-engines",
        environ: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        poll: float = 0.5,
    ) -> None:
        unknown = (template_fields(command) | template_fields(served_model)) - set(FIELDS)
        if unknown:
            known = ", ".join("{" + f + "}" for f in FIELDS)
            names = ", ".join("{" + f + "}" for f in sorted(unknown))
            raise TemplateError(f"unknown field {names} in the engine command (known: {known})")
        if not boxes:
            raise ValueError("an SSH host needs at least one box")
        box_names = [box.name for box in boxes]
        if len(set(box_names)) != len(box_names):
            raise ValueError("two SSH boxes share a name")
        if len(ports) == 0:
            raise ValueError("an SSH host needs at least one port")
        self._command = command
        self._boxes = {box.name: box for box in boxes}
        self._ports = ports
        self._served_model = served_model
        self._ready_timeout = ready_timeout
        self._state_dir = state_dir
        self._remote_dir = remote_dir
        self._environ = dict(environ or {})
        self._connect_timeout = connect_timeout
        self._poll = poll
        self._lock = threading.Lock()
        self._placed: dict[str, _Placement] = {}
        self._closed = False
        # Engines are reached directly: no proxy from the environment stands in between.
        self._http = httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), trust_env=False)
        state_dir.mkdir(parents=True, exist_ok=True)

    # -- the port ---------------------------------------------------------------------------

    def deploy(self, spec: DeploymentSpec) -> Deployment:
        if self._closed:
            raise DeployFailed("host_closed", "the host is closed")
        deployment_id = _new_id(spec.hotkey)
        placement = self._reserve(deployment_id)
        try:
            return self._start(deployment_id, placement, spec)
        except BaseException:
            with self._lock:
                self._placed.pop(deployment_id, None)
            raise

    def health(self, deployment: Deployment) -> Health:
        try:
            served = listed_models(self._http, deployment.base_url)
        except NotListing as exc:
            why = str(exc)
        else:
            if deployment.served_model in served:
                return Health(True)
            why = "model_missing"
        placement = self._placed.get(deployment.id)
        if placement is not None:
            try:
                state = self._status(self._boxes[placement.box], [deployment.id])[deployment.id]
            except SshFailed:
                state = "alive"
            if state.startswith("exited "):
                return Health(False, f"exited:{state.split()[1]}")
            if state in ("gone", "none"):
                return Health(False, "exited:killed")
        return Health(False, why if why == "model_missing" else f"not_answering:{why}")

    def teardown(self, deployment: Deployment) -> None:
        with self._lock:
            placement = self._placed.get(deployment.id)
        box_name = placement.box if placement else _read_state(self._state_path(deployment.id))
        box = self._boxes.get(box_name) if isinstance(box_name, str) else None
        if box is not None:
            try:
                self._ssh(box, remote_scripts.stop(self._remote_dir, [deployment.id]))
            except SshFailed:
                # The box is out of reach: the local state stays, so a later recover ends it.
                with self._lock:
                    self._placed.pop(deployment.id, None)
                return
        self._forget(deployment.id)

    def capacity(self) -> Capacity:
        total = sum(len(box.slots) for box in self._boxes.values())
        with self._lock:
            return Capacity(total, total - len(self._placed))

    def preflight(self) -> list[Probe]:
        probes: list[Probe] = []
        free = self.capacity()
        probes.append(Probe("slots", free.free > 0, f"slots free {free.free} of {free.total}"))
        try:
            argv0 = render_command(self._command, _placeholder_fields())[0]
        except TemplateError as exc:
            return [*probes, Probe("engine command", False, str(exc))]
        for box in self._boxes.values():
            where = f"{box.user}@{box.host}:{box.port}"
            try:
                done = self._ssh(box, remote_scripts.preflight(argv0))
            except SshFailed as exc:
                probes.append(Probe(f"ssh {box.name}", False, f"{where}: {exc}"))
                continue
            probes.append(Probe(f"ssh {box.name}", True, f"{where} reachable with the key"))
            if done.returncode == 0:
                found = done.stdout.strip().splitlines()[0] if done.stdout.strip() else argv0
                detail = f"engine command found: {found}"
                probes.append(Probe(f"engine on {box.name}", True, detail))
            elif done.returncode == remote_scripts.ENGINE_MISSING:
                detail = f"engine command not found: {argv0}"
                probes.append(Probe(f"engine on {box.name}", False, detail))
            else:
                detail = _tail(done.stderr) or f"exit {done.returncode}"
                probes.append(Probe(f"engine on {box.name}", False, detail))
        return probes

    def recover(self) -> list[Deployment]:
        states: dict[str, dict[str, object]] = {}
        for path in sorted(self._state_dir.glob("*.json")):
            state = _load(path)
            if state is None or not isinstance(state.get("box"), str):
                path.unlink(missing_ok=True)  # half-written before its first byte: nothing ran
                continue
            states[path.stem] = state
        adopted: list[Deployment] = []
        for box in self._boxes.values():
            mine = {i: s for i, s in states.items() if s["box"] == box.name}
            try:
                on_box = self._listing(box)
                alive = self._status(box, sorted(set(mine) | on_box)) if mine or on_box else {}
            except SshFailed:
                continue  # out of reach: its states stay for the next recover
            ended = [i for i in sorted(on_box - set(mine))]  # records no state names: orphans
            for deployment_id, state in mine.items():
                deployment = self._adoptable(box, deployment_id, state, alive.get(deployment_id))
                if deployment is None:
                    ended.append(deployment_id)
                else:
                    adopted.append(deployment)
            if ended:
                try:
                    self._ssh(box, remote_scripts.stop(self._remote_dir, ended))
                except SshFailed:
                    continue
            for deployment_id in ended:
                if deployment_id in mine:
                    self._forget(deployment_id)
        return adopted

    def close(self) -> None:
        """A deploy in flight ends its engine at its next readiness poll; none launches."""
        self._closed = True
        self._http.close()

    # -- deploying --------------------------------------------------------------------------

    def _reserve(self, deployment_id: str) -> _Placement:
        """A free slot on some box and a port of that box no deployment of ours holds and
        nothing else listens on."""
        with self._lock:
            used = set(self._placed.values())
            crowded: list[str] = []
            for box in self._boxes.values():
                taken_slots = {p.slot for p in used if p.box == box.name}
                free_slots = [s for s in box.slots if s not in taken_slots]
                if not free_slots:
                    continue
                ours = {p.port for p in used if p.box == box.name}
                for port in self._ports:
                    if port not in ours and not _listening(box.host, port):
                        placement = _Placement(box.name, free_slots[0], port)
                        self._placed[deployment_id] = placement
                        return placement
                crowded.append(box.name)
        if crowded:
            ports = f"{self._ports.start}..{self._ports.stop - 1}"
            raise DeployFailed("port_taken", f"ports {ports} all in use on {', '.join(crowded)}")
        total = sum(len(box.slots) for box in self._boxes.values())
        raise DeployFailed("no_slot_free", f"all {total} slots hold a deployment")

    def _start(self, deployment_id: str, placement: _Placement, spec: DeploymentSpec) -> Deployment:
        box = self._boxes[placement.box]
        fields = _fields(spec, placement)
        try:
            argv = render_command(self._command, fields)
            served_model = self._served_model.format_map(fields)
        except (TemplateError, KeyError, ValueError) as exc:
            raise DeployFailed("bad_command", str(exc)) from None
        started_at = time.time()
        base_url = f"http://{_url_host(box.host)}:{placement.port}/v1"
        log = f"{box.name}:{self._remote_dir}/{deployment_id}.log"
        state: dict[str, object] = {
            "id": deployment_id,
            "box": box.name,
            "slot": placement.slot,
            "port": placement.port,
            "served_model": served_model,
            "base_url": base_url,
            "log": log,
            "spec": _spec_record(spec),
            "started_at": started_at,
            "ready_at": None,
        }
        # Written before the box hears of it: a daemon killed from here on leaves a name that
        # recover finds and ends.
        _write(self._state_path(deployment_id), state)
        env = dict(self._environ)
        if placement.slot:
            env["CUDA_VISIBLE_DEVICES"] = placement.slot
        record = json.dumps(
            {"id": deployment_id, "port": placement.port, "gpus": placement.slot}
            | {k: v for k, v in _spec_record(spec).items() if k != "extra"}
        )
        if self._closed:
            self._forget(deployment_id)
            raise DeployFailed("host_closed", "the host was closed during the deploy")
        try:
            done = self._ssh(
                box, remote_scripts.launch(self._remote_dir, deployment_id, argv, env, record)
            )
        except SshFailed as exc:
            self._forget(deployment_id)
            raise DeployFailed(exc.reason, exc.detail) from None
        if done.returncode != 0:
            self._end(box, deployment_id)
            if done.returncode == remote_scripts.ENGINE_MISSING:
                raise DeployFailed("engine_missing", f"{argv[0]} not found on {box.name}")
            raise DeployFailed("launch_failed", _tail(done.stderr) or f"exit {done.returncode}")
        deployment = Deployment(
            id=deployment_id,
            hotkey=spec.hotkey,
            model=spec.model,
            revision=spec.revision,
            role=spec.role,
            base_url=base_url,
            served_model=served_model,
            started_at=started_at,
            ready_at=started_at,
            log=log,
        )
        try:
            ready_at = self._wait_ready(box, deployment)
        except BaseException:
            self._end(box, deployment_id)
            raise
        _write(self._state_path(deployment_id), state | {"ready_at": ready_at})
        return replace(deployment, ready_at=ready_at)

    def _wait_ready(self, box: SshBox, deployment: Deployment) -> float:
        deadline = time.monotonic() + self._ready_timeout
        while True:
            if self._closed:  # the caller ends the engine, as for any failed deploy
                raise DeployFailed("host_closed", "the host was closed during the deploy")
            try:
                if deployment.served_model in listed_models(self._http, deployment.base_url):
                    return time.time()
            except NotListing:
                pass
            try:
                state = self._status(box, [deployment.id])[deployment.id]
            except SshFailed:
                state = "alive"  # one lost call decides nothing; the deadline still holds
            if state.startswith("exited "):
                raise DeployFailed(f"exited:{state.split()[1]}", f"see {deployment.log}")
            if state in ("gone", "none"):
                raise DeployFailed(
                    "exited:killed", f"the engine ended without a status on {box.name}"
                )
            if time.monotonic() > deadline:
                raise DeployFailed(
                    f"never_ready:{self._ready_timeout:g}s",
                    f"{deployment.base_url}/models did not list {deployment.served_model}",
                )
            time.sleep(self._poll)

    def _end(self, box: SshBox, deployment_id: str) -> None:
        """End what a failed deploy started; its local state stays if the box is out of reach,
        so that recover ends it later."""
        try:
            self._ssh(box, remote_scripts.stop(self._remote_dir, [deployment_id]))
        except SshFailed:
            with self._lock:
                self._placed.pop(deployment_id, None)
            return
        self._forget(deployment_id)

    def _adoptable(
        self, box: SshBox, deployment_id: str, state: Mapping[str, object], alive: str | None
    ) -> Deployment | None:
        if alive != "alive":
            return None
        try:
            deployment = _deployment_from(deployment_id, state)
            slot, port = str(state["slot"]), int(str(state["port"]))
        except (KeyError, TypeError, ValueError):
            return None
        if slot not in box.slots or port not in self._ports:
            return None
        try:
            if deployment.served_model not in listed_models(self._http, deployment.base_url):
                return None
        except NotListing:
            return None
        with self._lock:
            if any(
                p.box == box.name and (p.slot == slot or p.port == port)
                for p in self._placed.values()
            ):
                return None  # two states claim one slot or port: only the first is adopted
            self._placed[deployment_id] = _Placement(box.name, slot, port)
        if state.get("ready_at") is None:
            _write(self._state_path(deployment_id), {**state, "ready_at": deployment.ready_at})
        return deployment

    # -- SSH --------------------------------------------------------------------------------

    def _ssh(self, box: SshBox, script: str) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in the box's shell; `SshFailed` when the shell was never reached."""
        argv = [
            "ssh",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={max(1, math.ceil(self._connect_timeout))}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=2",
            "-p", str(box.port),
            "-l", box.user,
        ]  # fmt: skip
        if box.key_file is not None:
            argv += ["-i", str(box.key_file), "-o", "IdentitiesOnly=yes"]
        if box.known_hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={box.known_hosts}"]
        argv += ["--", box.host, script]
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self._connect_timeout + SCRIPT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise SshFailed("ssh_unreachable", f"{box.name}: no answer in time") from None
        except FileNotFoundError:
            raise SshFailed("ssh_unreachable", "the ssh client is not installed here") from None
        if done.returncode == 255:
            raise SshFailed(_ssh_reason(done.stderr), f"{box.name}: {_tail(done.stderr)}")
        return done

    def _status(self, box: SshBox, ids: Sequence[str]) -> dict[str, str]:
        done = self._ssh(box, remote_scripts.status(self._remote_dir, ids))
        states: dict[str, str] = {}
        for line in done.stdout.splitlines():
            deployment_id, _, state = line.partition(" ")
            states[deployment_id] = state
        return {i: states.get(i, "none") for i in ids}

    def _listing(self, box: SshBox) -> set[str]:
        done = self._ssh(box, remote_scripts.listing(self._remote_dir))
        return {line.strip() for line in done.stdout.splitlines() if line.strip()}

    # -- local state ------------------------------------------------------------------------

    def _state_path(self, deployment_id: str) -> Path:
        return self._state_dir / f"{deployment_id}.json"

    def _forget(self, deployment_id: str) -> None:
        self._state_path(deployment_id).unlink(missing_ok=True)
        with self._lock:
            self._placed.pop(deployment_id, None)


def _ssh_reason(stderr: str) -> str:
    """The ssh client exits 255 for every failure of its own; its last words say which."""
    if "Permission denied" in stderr or "Too many authentication failures" in stderr:
        return "ssh_key_refused"
    if "Host key verification failed" in stderr or "HOST IDENTIFICATION HAS CHANGED" in stderr:
        return "ssh_host_unknown"
    return "ssh_unreachable"


def _new_id(hotkey: str) -> str:
    """Unique, and safe as a file name and a shell word on any box: the hotkey's first
    alphanumerics and random hex."""
    stem = "".join(c for c in hotkey if c.isascii() and c.isalnum())[:12] or "miner"
    return f"{stem}-{secrets.token_hex(6)}"


def _fields(spec: DeploymentSpec, placement: _Placement) -> dict[str, object]:
    return {
        "model": spec.model,
        "revision": spec.revision,
        "port": placement.port,
        "host": BIND_ALL,
        "gpus": placement.slot,
        "gpu_count": len([g for g in placement.slot.split(",") if g.strip()]),
        "hotkey": spec.hotkey,
        "role": spec.role,
    }


def _placeholder_fields() -> dict[str, object]:
    spec = DeploymentSpec("hotkey", "model", "revision", "champion")
    return _fields(spec, _Placement("box", "", 0))


def _spec_record(spec: DeploymentSpec) -> dict[str, object]:
    return {
        "hotkey": spec.hotkey,
        "model": spec.model,
        "revision": spec.revision,
        "role": spec.role,
        "extra": {str(k): v for k, v in spec.extra.items()},
    }


def _deployment_from(deployment_id: str, state: Mapping[str, object]) -> Deployment:
    spec = state["spec"]
    if not isinstance(spec, dict):
        raise TypeError("spec")
    role = str(spec["role"])
    if role not in ROLES:
        raise ValueError(role)
    started_at = float(str(state["started_at"]))
    ready = state.get("ready_at")
    role_value: Role = role
    return Deployment(
        id=deployment_id,
        hotkey=str(spec["hotkey"]),
        model=str(spec["model"]),
        revision=str(spec["revision"]),
        role=role_value,
        base_url=str(state["base_url"]),
        served_model=str(state["served_model"]),
        started_at=started_at,
        ready_at=float(str(ready)) if ready is not None else time.time(),
        log=str(state["log"]) if state.get("log") is not None else None,
    )


def _listening(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port`` (from here, as the validator
    will connect)."""
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _tail(text: str, limit: int = 300) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:])[-limit:]


def _load(path: Path) -> dict[str, object] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _read_state(path: Path) -> object:
    state = _load(path)
    return None if state is None else state.get("box")


def _write(path: Path, state: Mapping[str, object]) -> None:
    """Atomically: a daemon killed mid-write leaves the old file or the new one, never half."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, default=str, sort_keys=True))
    os.replace(tmp, path)
