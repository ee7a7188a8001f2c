"""A `ModelHost` that serves each deployment with the project's own local miner server on
loopback: a real HTTP engine per deployment, started and stopped for real, checked over HTTP.

The test steers it: `gate` holds a model's deploys until `release_gate` (an engine still
loading, with no sleep to wait out), `fail_next` makes the next deploys of a model fail with a
reason, and `kill` stops a deployment's server behind the scheduler's back (its health checks
then fail for real). A daemon's restart is a new scheduler over the same host (the host, like
the machine's processes, outlives it): `recover` gives back what is still alive.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from throne.envs.base import Environment
from throne.miners import MinerProfile, MinerServer
from throne.ports.model_host import (
    Capacity,
    DeployFailed,
    Deployment,
    DeploymentSpec,
    Health,
    Probe,
)


@dataclass
class _Running:
    deployment: Deployment
    server: MinerServer


@dataclass
class MinerHost:
    """``slots`` deployments at most; ``skills`` by model (default 1.0)."""

    environments: Sequence[Environment]
    slots: int = 4
    skills: Mapping[str, float] = field(default_factory=dict)
    #: seconds a gated deploy may wait for its gate before it fails ``never_ready``
    ready_timeout: float = 60.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._deploying = 0
        self._gates: dict[str, threading.Event] = {}
        self._failures: dict[str, list[str]] = {}
        self._n = 0
        #: every spec deployed, in order, and every deployment id torn down
        self.deployed: list[DeploymentSpec] = []
        self.torn_down: list[str] = []
        self.health_checks = 0

    # ---- steering ---------------------------------------------------------------------------

    def gate(self, model: str) -> None:
        """Hold deploys of ``model`` until `release_gate` (or ``ready_timeout``)."""
        with self._lock:
            self._gates[model] = threading.Event()

    def release_gate(self, model: str) -> None:
        with self._lock:
            gate = self._gates.pop(model, None)
        if gate is not None:
            gate.set()

    def fail_next(self, model: str, *reasons: str) -> None:
        """The next deploys of ``model`` fail, one per reason, in order."""
        with self._lock:
            self._failures.setdefault(model, []).extend(reasons)

    def kill(self, hotkey: str) -> None:
        """Stop the server of ``hotkey``'s deployment, as an engine that crashed."""
        with self._lock:
            found = [r for r in self._running.values() if r.deployment.hotkey == hotkey]
        for r in found:
            r.server.stop()

    def running(self) -> dict[str, str]:
        """hotkey -> role of every deployment whose server is up."""
        with self._lock:
            return {r.deployment.hotkey: r.deployment.role for r in self._running.values()}

    def running_ids(self) -> set[str]:
        with self._lock:
            return set(self._running)

    def close_all(self) -> None:
        with self._lock:
            running, self._running = list(self._running.values()), {}
        for r in running:
            r.server.stop()

    # ---- the port -----------------------------------------------------------------------------

    def deploy(self, spec: DeploymentSpec) -> Deployment:
        started = time.time()
        with self._lock:
            if len(self._running) + self._deploying >= self.slots:
                raise DeployFailed("no_slot_free", f"{self.slots} of {self.slots} in use")
            self._deploying += 1
            gate = self._gates.get(spec.model)
            failures = self._failures.get(spec.model)
            reason = failures.pop(0) if failures else None
            self.deployed.append(spec)
        try:
            if gate is not None and not gate.wait(self.ready_timeout):
                raise DeployFailed(f"never_ready:{self.ready_timeout:g}s")
            if reason is not None:
                raise DeployFailed(reason, "injected by the test")
            profile = MinerProfile(spec.model, spec.revision, self.skills.get(spec.model, 1.0))
            server = MinerServer([profile], self.environments)
            server.start()
            with self._lock:
                self._n += 1
                d = Deployment(
                    id=f"miner-{self._n}",
                    hotkey=spec.hotkey,
                    model=spec.model,
                    revision=spec.revision,
                    role=spec.role,
                    base_url=server.base_url,
                    served_model=spec.model,
                    started_at=started,
                    ready_at=time.time(),
                )
                self._running[d.id] = _Running(d, server)
            return d
        finally:
            with self._lock:
                self._deploying -= 1

    def health(self, deployment: Deployment) -> Health:
        self.health_checks += 1
        try:
            with urllib.request.urlopen(f"{deployment.base_url}/models", timeout=5) as r:
                listed = {m["id"] for m in orjson.loads(r.read())["data"]}
        except (urllib.error.URLError, OSError) as exc:
            return Health(False, f"not_answering:{type(exc).__name__}")
        if deployment.served_model not in listed:
            return Health(False, "model_missing")
        return Health(True)

    def teardown(self, deployment: Deployment) -> None:
        with self._lock:
            running = self._running.pop(deployment.id, None)
            self.torn_down.append(deployment.id)
        if running is not None:
            running.server.stop()

    def capacity(self) -> Capacity:
        with self._lock:
            return Capacity(self.slots, self.slots - len(self._running) - self._deploying)

    def preflight(self) -> list[Probe]:
        free = self.capacity().free
        return [Probe("slots", free > 0, f"slots free {free} of {self.slots}")]

    def recover(self) -> list[Deployment]:
        """What is alive; what is dead is removed (its slot freed)."""
        with self._lock:
            running = list(self._running.values())
        alive = []
        for r in running:
            if self.health(r.deployment).ok:
                alive.append(r.deployment)
            else:
                self.teardown(r.deployment)
        return alive

    def close(self) -> None:
        pass
