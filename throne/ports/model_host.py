"""The `ModelHost` port: serve a miner's committed model, so the validator judges what it serves.

A host turns ``(model, revision, role)`` into a `Deployment` (an OpenAI-compatible base URL and
the name the model is served under), checks its health, tears it down and says how many more it
can hold. Adapters:

- `LocalEngineHost` runs an inference engine (SGLang, vLLM, ``transformers serve``...) as a
  child process on this machine, one deployment per GPU slot;
- `SshEngineHost` runs the same engine command on GPU boxes reached over SSH;
- `ChutesEndpoints` hosts nothing: it resolves a commitment's ``chute_id`` to the miner's own
  Chutes deployment, and checks it matches the commitment.

The daemon's scheduler (``throne.daemon.hosting``) decides what is deployed: the champion, the
battle's challenger and the next queue members. Calls may block (a deploy waits until the engine
is ready): the scheduler runs them in threads, one call per deployment at a time.

A host fails with `DeployFailed` and a short named ``reason`` (``engine_missing``,
``exited:<code>``, ``never_ready:<seconds>s``, ``port_taken``, ``no_slot_free``,
``ssh_unreachable``, ``ssh_key_refused``, ``hub_unavailable``, ``repo_vanished``, ``disk_full``,
``chute_not_hot``...), which the scheduler records as the release reason ``deploy_failed:<reason>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["champion", "challenger", "pre_challenger"]
ROLES: tuple[Role, ...] = ("champion", "challenger", "pre_challenger")


@dataclass(frozen=True)
class DeploymentSpec:
    """What to serve: a miner's committed model at its committed revision, in a role.
    ``extra`` holds the commitment's other keys (``chute_id`` for Chutes)."""

    hotkey: str
    model: str
    revision: str
    role: Role
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    """One running deployment. ``base_url`` ends before ``/chat/completions`` (usually in
    ``/v1``); ``served_model`` is the name to send there; ``id`` is the host's own name for it,
    stable across restarts of the daemon (it is what `ModelHost.recover` finds again)."""

    id: str
    hotkey: str
    model: str
    revision: str
    role: Role
    base_url: str
    served_model: str
    #: wall-clock seconds when the deploy started, and when the engine was first ready
    started_at: float
    ready_at: float
    #: where the engine's output goes, when the host keeps it (a path or a remote path)
    log: str | None = None
    api_key: str | None = field(default=None, repr=False)

    @property
    def ready_seconds(self) -> float:
        return self.ready_at - self.started_at


@dataclass(frozen=True)
class Health:
    """One health check: ``ok``, or the named reason it is not (``exited:<code>``,
    ``not_answering:<why>``, ``model_missing``, ``chute_not_hot``...)."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Capacity:
    """How many deployments the host holds at most, and how many more it can take now."""

    total: int
    free: int


@dataclass(frozen=True)
class Probe:
    """One preflight check of a host, for ``throne check``: what was tried, whether it worked,
    and what was seen (``slots free 2 of 2``, ``engine command found: /usr/bin/python3``...)."""

    name: str
    ok: bool
    detail: str = ""


class DeployFailed(Exception):
    """The deploy did not give a ready deployment; ``reason`` names why, in a word or two
    (see the module docstring), ``detail`` says more for the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ModelHost(Protocol):
    """Serves committed models. Every method may block; none raises for the far side's
    trouble except `deploy` (with `DeployFailed`)."""

    def deploy(self, spec: DeploymentSpec) -> Deployment:
        """Start serving ``spec`` and return once it is ready (``GET {base_url}/models`` lists
        the served model) or raise `DeployFailed`. Whatever a failed deploy started is gone
        when it raises."""

    def health(self, deployment: Deployment) -> Health:
        """Whether the deployment answers now (its engine is alive and lists the model)."""

    def teardown(self, deployment: Deployment) -> None:
        """Stop serving it and free its slot; a deployment already gone is no error."""

    def capacity(self) -> Capacity:
        """Slots in all, and free now."""

    def preflight(self) -> list[Probe]:
        """Try what a deploy will need without deploying: slots free, the engine command found,
        each SSH box reachable, the Chutes API answering. Never raises."""

    def recover(self) -> list[Deployment]:
        """After a restart (the last run may have been killed): the deployments the last run
        left that are alive and ready, which this host now owns again. Whatever it left that is
        dead or half-started is removed (processes ended, slots and ports freed)."""

    def close(self) -> None:
        """Release the host's own resources (connections) and start no engine any more: a
        deploy in flight fails with ``host_closed``, ending what it started. Ready deployments
        are left running, so a restarted daemon can `recover` them; `teardown` still stops
        one."""
