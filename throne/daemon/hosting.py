"""Hosting: keep the models the contest judges deployed, through a `ModelHost`.

At each poll the scheduler reads who needs a model served (the read side's standings) and
makes the host agree:

- desired are the champion (role ``champion``), the battle's challenger (``challenger``) and
  the next ``pre_deploy`` queue members (``pre_challenger``; between battles the queue head is
  the next challenger), so a battle starts as soon as the previous one ends;
- deploys run in threads (a deploy blocks until the engine is ready), champion first, then the
  challenger, then in queue order, only on free capacity; a pre-challenger's slot is given up
  for the champion or the challenger when nothing else is free;
- what is no longer desired is torn down (a terminated loser, a dethroned champion); a
  pre-challenger that becomes the challenger keeps its deployment;
- every ``health_every`` seconds each deployment is checked; ``unhealthy_after`` failures in a
  row make it unhealthy: a challenger is torn down and released (``unhealthy:<why>``), a
  champion is redeployed (one that never comes back abdicates through the contest's
  missed-pools rule), a pre-challenger is torn down and deployed again later;
- a failed deploy of the challenger or of the queue head releases it (``deploy_failed:<why>``,
  under the contest's bounded-release rule) and is tried again after a backoff; that of a later
  queue member or of the champion is only tried again after a backoff;
- at start, `ModelHost.recover` gives back what the last run left: what is desired is
  adopted, the rest torn down.

The contest asks `Hosting.ready` before it starts a battle, and the sampler resolves models
through `Hosting.endpoints`: a desired model not ready yet raises `NotDeployed`, so its work
waits instead of failing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import structlog

from throne.application import ThroneApplication
from throne.daemon.supervisor import progressed, sleep_or_stop
from throne.observability.metrics import ThroneMetrics
from throne.ports.model_endpoints import Endpoint, NotDeployed, UnknownModel
from throne.ports.model_host import (
    DeployFailed,
    Deployment,
    DeploymentSpec,
    ModelHost,
    Role,
)
from throne.projections.read_side import ReadSide
from throne.projections.standings import Standings

#: torn-down deployments kept for `Hosting.deployments` (the demo, the status API)
TORN_DOWN_KEPT = 200
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 300.0

Miner = tuple[str, str]  # (hotkey, revision)
#: called with every (model, revision) whose files must stay in the cache
Pin = Callable[[Iterable[tuple[str, str]]], None]
#: called with the deployments serving now, as `Hosting.deployed_now` gives them
Record = Callable[[list[dict[str, Any]]], None]


@dataclass(frozen=True)
class Wanted:
    """A miner the contest needs served, in the role it has now and its priority (0 first)."""

    hotkey: str
    revision: str
    model: str
    role: Role
    priority: int
    #: the queue head (or the battling challenger): a failed deploy releases it
    releasable: bool
    #: the commitment's other keys, handed to the host (``chute_id`` names a miner's chute)
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass
class _Held:
    """A deployment this scheduler owns, or is making: one host call at a time on it."""

    wanted: Wanted
    deployment: Deployment | None = None
    busy: bool = False
    failures: int = 0
    last_reason: str = ""
    next_check: float = 0.0


@dataclass
class _Shown:
    """One deployment as `Hosting.deployments` shows it."""

    hotkey: str
    model: str
    revision: str
    role: str
    ready_s: float
    torn_down: bool = False
    reason: str | None = None


@dataclass
class _Retry:
    at: float
    delay: float
    reason: str = ""


@dataclass(frozen=True)
class Schedule:
    """How many queue members are pre-deployed, how often deployments are checked and how
    many failed checks in a row make one unhealthy, how often the scheduler looks, and the
    backoff before a failed deploy is tried again (doubling up to ``max_retry``)."""

    pre_deploy: int = 2
    health_every: float = 60.0
    unhealthy_after: int = 3
    poll_seconds: float = 2.0
    first_retry: float = FIRST_RETRY_SECONDS
    max_retry: float = MAX_RETRY_SECONDS


def desired(standings: Standings, pre_deploy: int) -> list[Wanted]:
    """Who must be served, highest priority first: the champion, the battle's challenger, then
    the next ``pre_deploy`` queue members (the head first; between battles the head at least,
    so that ``pre_deploy = 0`` deploys each challenger when its battle is due, not before)."""
    out: list[Wanted] = []
    champion = standings.champion_record()
    if standings.champion is not None and champion is not None and champion.model is not None:
        out.append(
            Wanted(
                champion.hotkey,
                standings.champion.revision,
                champion.model,
                "champion",
                0,
                False,
                standings.extra(champion.hotkey),
            )
        )
    challenger = standings.challenger_record()
    if standings.battle is not None and challenger is not None and challenger.model is not None:
        out.append(
            Wanted(
                challenger.hotkey,
                standings.battle.revision,
                challenger.model,
                "challenger",
                1,
                True,
                standings.extra(challenger.hotkey),
            )
        )
    # Between battles the queue head is the next challenger, whatever ``pre_deploy`` says: the
    # battle waits for both sides to answer, so a head left undeployed would never start one.
    ahead = max(pre_deploy, 1 if standings.battle is None else 0)
    for i, m in enumerate(standings.queue()[:ahead]):
        if m.model is None or m.revision is None:
            continue
        extra = standings.extra(m.hotkey)
        out.append(Wanted(m.hotkey, m.revision, m.model, "pre_challenger", 2 + i, i == 0, extra))
    return out


class HostedEndpoints:
    """The `ModelEndpoints` of the ready deployments."""

    def __init__(self, hosting: Hosting) -> None:
        self._hosting = hosting

    def resolve(self, model: str, revision: str) -> Endpoint:
        return self._hosting.resolve(model, revision)


class Hosting:
    """The scheduler (see the module docstring); `run` is its supervised loop, `reconcile` one
    pass of it."""

    def __init__(
        self,
        app: ThroneApplication,
        host: ModelHost,
        reads: ReadSide,
        settings: Schedule | None = None,
        *,
        current_block: Callable[[], int] | None = None,
        pin: Pin | None = None,
        record: Record | None = None,
        metrics: ThroneMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``current_block``: the block releases are recorded at (default: the newest block
        the log names); ``pin``: the model cache's pin (its files are never evicted);
        ``record``: where the deployments serving now are kept for readers (``throne rank``)."""
        self.app = app
        self.host = host
        self.reads = reads
        self.settings = settings or Schedule()
        self._current_block = current_block
        self._pin = pin
        self._record = record
        self._metrics = metrics
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[Miner, _Held] = {}
        self._wanted: dict[Miner, Wanted] = {}
        self._retry: dict[Miner, _Retry] = {}
        self._shown: dict[str, _Shown] = {}  # by deployment id
        self._torn_down: deque[_Shown] = deque(maxlen=TORN_DOWN_KEPT)
        self._threads: set[threading.Thread] = set()
        self._recorded: list[dict[str, Any]] | None = None
        self._last_block = 0
        self._reconciled = False
        #: `stop_serving` was called: no pass starts a deploy any more
        self._stopped = False
        self.endpoints = HostedEndpoints(self)
        self.log = structlog.get_logger("throne.hosting")

    # ---- what the others ask --------------------------------------------------------------

    def ready(self, hotkey: str, revision: str) -> bool:
        """Whether ``(hotkey, revision)`` is served now by a deployment that passed its last
        health check."""
        with self._lock:
            held = self._held.get((hotkey, revision))
            return held is not None and held.deployment is not None and held.failures == 0

    def resolve(self, model: str, revision: str) -> Endpoint:
        """The endpoint of a ready deployment of ``(model, revision)``; `NotDeployed` while a
        desired one is not ready (desired at the last pass, or by the contest now),
        `UnknownModel` when none is desired."""
        with self._lock:
            for held in self._held.values():
                d = held.deployment
                if d is not None and d.model == model and d.revision == revision:
                    return Endpoint(d.base_url, d.served_model, d.api_key)
            if not self._reconciled:
                # Not scheduling (yet, or on a standby daemon): nothing is known to be served.
                raise NotDeployed(f"{model}@{revision}: hosting has not started")
            if any(w.model == model and w.revision == revision for w in self._wanted.values()):
                raise NotDeployed(f"{model}@{revision} is being deployed")
        # The contest may have moved on since the last pass (a champion crowned, a battle
        # started): what it wants now is deployed at the next pass, so its work waits.
        if any(w.model == model and w.revision == revision for w in self._desired()):
            raise NotDeployed(f"{model}@{revision} is to be deployed at the next pass")
        raise UnknownModel(f"{model}@{revision} is not hosted")

    def deployments(self) -> list[dict[str, Any]]:
        """Every deployment of this run, serving or torn down: ``hotkey``, ``model``,
        ``revision``, ``role``, ``ready_s``, ``torn_down`` (and why, when it was)."""
        with self._lock:
            shown = [*self._torn_down, *self._shown.values()]
        return [
            {
                "hotkey": s.hotkey,
                "model": s.model,
                "revision": s.revision,
                "role": s.role,
                "ready_s": round(s.ready_s, 3),
                "torn_down": s.torn_down,
                "reason": s.reason,
            }
            for s in shown
        ]

    def deployed_now(self) -> list[dict[str, Any]]:
        """The deployments serving now (the rows the deployments table keeps)."""
        with self._lock:
            rows = [
                {
                    "hotkey": h.deployment.hotkey,
                    "revision": h.deployment.revision,
                    "model": h.deployment.model,
                    "role": h.wanted.role,
                    "deployment_id": h.deployment.id,
                    "ready_at": h.deployment.ready_at,
                    "healthy": h.failures == 0,
                }
                for h in self._held.values()
                if h.deployment is not None
            ]
        return sorted(rows, key=lambda r: (r["hotkey"], r["revision"]))

    # ---- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Recover what the last run left, then reconcile every poll until ``stop``; the
        deployments are left running (a restart adopts them)."""
        await asyncio.to_thread(self.recover)
        while not stop.is_set():
            await asyncio.to_thread(self.reconcile)
            progressed()
            await sleep_or_stop(stop, self.settings.poll_seconds)

    def recover(self) -> None:
        """Adopt what the host gives back and the contest still wants; tear down the rest."""
        found = self.host.recover()
        wanted = {(w.hotkey, w.revision): w for w in self._desired()}
        with self._lock:
            self._wanted = wanted
        for d in found:
            key = (d.hotkey, d.revision)
            w = wanted.get(key)
            with self._lock:
                adopt = w is not None and key not in self._held
                if adopt:
                    assert w is not None
                    self._held[key] = _Held(w, replace(d, role=w.role))
                    self._show(self._held[key])
            if adopt:
                self.log.info("deployment_adopted", hotkey=d.hotkey, id=d.id, role=d.role)
            else:
                self.log.info("deployment_removed", hotkey=d.hotkey, id=d.id, why="not desired")
                self._call(partial(self.host.teardown, d), "teardown")
        self._publish()

    def reconcile(self) -> None:
        """One pass: read who is wanted, tear down who is not, start the deploys and health
        checks that are due. Host calls run in threads of their own; this returns at once."""
        wanted_list = self._desired()
        wanted = {(w.hotkey, w.revision): w for w in wanted_list}
        now = self._clock()
        with self._lock:
            if self._stopped:
                return
            self._wanted = wanted
            self._reconciled = True
            unwanted = [k for k, h in self._held.items() if k not in wanted and not h.busy]
            for key, held in self._held.items():
                if key in wanted and held.wanted != wanted[key]:
                    held.wanted = wanted[key]  # a role changes in place: the engine stays
                    if held.deployment is not None:
                        held.deployment = replace(held.deployment, role=wanted[key].role)
                        self._show(held)
            for key in list(self._retry):
                if key not in wanted:
                    del self._retry[key]
        for key in unwanted:
            self._teardown(key, "not desired")
        self._make_room(wanted_list, now)
        cap = self.host.capacity()
        started = 0
        for w in wanted_list:
            with self._lock:
                room = min(cap.free - started, cap.total - len(self._held))
            if room > 0 and self._maybe_deploy(w, now):
                started += 1
        self._check_health(now)
        self._publish()

    def stop_serving(self, why: str = "stopped", timeout: float = 60.0) -> None:
        """Tear every deployment down, once the host calls in flight are over (a deploy that
        ends meanwhile tears its own engine down: nothing is wanted any more). For a run that
        must leave no engine behind (the demo); a daemon's stop leaves them to be adopted.
        A pass still running (a stopped loop's thread finishes its pass) starts nothing."""
        with self._lock:
            self._stopped = True
            self._wanted = {}
            self._retry.clear()
        self.join(timeout)
        with self._lock:
            keys = list(self._held)
        for key in keys:
            self._teardown(key, why)
        self._publish()

    def join(self, timeout: float = 60.0) -> None:
        """Wait for the host calls in flight (tests, and a stop that must not leave a deploy
        half-recorded)."""
        deadline = time.monotonic() + timeout
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))

    # ---- the parts of a pass --------------------------------------------------------------

    def _desired(self) -> list[Wanted]:
        with self.reads.read() as r:
            standings = r.standings()
        self._last_block = max(self._last_block, standings.last_block or 0)
        return desired(standings, self.settings.pre_deploy)

    def _block(self) -> int:
        return self._current_block() if self._current_block is not None else self._last_block

    def _make_room(self, wanted: Sequence[Wanted], now: float) -> None:
        """A champion or a challenger with no slot takes a pre-challenger's, the last in the
        queue first."""
        with self._lock:
            missing = [
                w
                for w in wanted
                if w.role != "pre_challenger"
                and (w.hotkey, w.revision) not in self._held
                and not self._waiting((w.hotkey, w.revision), now)
            ]
        if not missing:
            return
        cap = self.host.capacity()
        with self._lock:
            if min(cap.free, cap.total - len(self._held)) > 0:
                return
            victims = sorted(
                (
                    (h.wanted.priority, k)
                    for k, h in self._held.items()
                    if h.wanted.role == "pre_challenger" and not h.busy
                ),
                reverse=True,
            )
        for _, key in victims[: len(missing)]:
            self._teardown(key, "room for a higher role")

    def _waiting(self, key: Miner, now: float) -> bool:
        retry = self._retry.get(key)
        return retry is not None and now < retry.at

    def _maybe_deploy(self, w: Wanted, now: float) -> bool:
        """Start deploying ``w`` unless it is held or waits out a backoff; whether it did.
        The caller has seen a free slot: the host's free count, less the deploys this pass
        started (the host may count them only once their threads run), and never more than
        its total less what this scheduler holds."""
        key = (w.hotkey, w.revision)
        with self._lock:
            if self._stopped or key in self._held or self._waiting(key, now):
                return False
            held = _Held(w, busy=True)
            self._held[key] = held
        self.log.info("deploy_started", hotkey=w.hotkey, model=w.model, role=w.role)
        self._spawn(lambda: self._deploy(key, held), f"deploy:{w.hotkey}")
        return True

    def _deploy(self, key: Miner, held: _Held) -> None:
        w = held.wanted
        spec = DeploymentSpec(w.hotkey, w.model, w.revision, w.role, w.extra)
        started = time.time()
        try:
            d = self.host.deploy(spec)
        except DeployFailed as exc:
            self._deploy_failed(key, held, exc.reason, exc.detail)
            return
        except Exception as exc:  # an adapter's bug must not kill the scheduler
            self._deploy_failed(key, held, type(exc).__name__, str(exc))
            return
        if self._metrics is not None:
            self._metrics.observe_deploy_ready(max(0.0, d.ready_at - d.started_at))
        with self._lock:
            still = self._held.get(key) is held and key in self._wanted
            if still:
                held.wanted = self._wanted[key]
                held.deployment = replace(d, role=held.wanted.role)
                held.busy = False
                held.next_check = self._clock() + self.settings.health_every
                self._retry.pop(key, None)
                self._show(held)
        self.log.info(
            "deploy_ready",
            hotkey=w.hotkey,
            model=w.model,
            role=w.role,
            id=d.id,
            ready_s=round(d.ready_at - started, 3),
            kept=still,
        )
        if not still:  # no longer wanted while it loaded
            self._call(lambda: self.host.teardown(d), "teardown")
            with self._lock:
                if self._held.get(key) is held:
                    del self._held[key]
        self._publish()

    def _deploy_failed(self, key: Miner, held: _Held, reason: str, detail: str) -> None:
        if reason == "host_closed":  # shutting down: no fault of the miner's, nothing to retry
            with self._lock:
                if self._held.get(key) is held:
                    del self._held[key]
            self.log.info("deploy_abandoned", hotkey=held.wanted.hotkey, why=detail)
            return
        with self._lock:
            if self._held.get(key) is held:
                del self._held[key]
            w = self._wanted.get(key, held.wanted)
            self._back_off(key, reason)
        self.log.warning(
            "deploy_failed",
            hotkey=w.hotkey,
            model=w.model,
            role=w.role,
            reason=reason,
            detail=detail[:500],
            releases=w.releasable,
            retry_in_s=self._retry[key].delay,
        )
        if w.releasable and key in self._wanted:
            self._release(w, f"deploy_failed:{reason}")
        self._publish()

    def _back_off(self, key: Miner, reason: str) -> None:
        previous = self._retry.get(key)
        delay = (
            self.settings.first_retry
            if previous is None
            else min(previous.delay * 2, self.settings.max_retry)
        )
        self._retry[key] = _Retry(self._clock() + delay, delay, reason)

    def _release(self, w: Wanted, reason: str) -> None:
        try:
            self.app.release(w.hotkey, reason, self._block())
        except (ValueError, KeyError) as exc:  # it moved on meanwhile (terminated, crowned)
            self.log.info("release_skipped", hotkey=w.hotkey, reason=reason, why=str(exc))
            return
        self.log.warning("miner_released", hotkey=w.hotkey, reason=reason, role=w.role)

    def _check_health(self, now: float) -> None:
        with self._lock:
            due = [
                (k, h)
                for k, h in self._held.items()
                if h.deployment is not None and not h.busy and now >= h.next_check
            ]
            for _, h in due:
                h.busy = True
        for key, held in due:
            self._spawn(partial(self._health, key, held), f"health:{key[0]}")

    def _health(self, key: Miner, held: _Held) -> None:
        d = held.deployment
        assert d is not None
        try:
            health = self.host.health(d)
            ok, reason = health.ok, health.reason
        except Exception as exc:  # an adapter's bug counts as a failed check
            ok, reason = False, type(exc).__name__
        with self._lock:
            held.busy = False
            held.next_check = self._clock() + self.settings.health_every
            if self._held.get(key) is not held:
                return  # torn down meanwhile
            if ok:
                held.failures = 0
                return
            held.failures += 1
            held.last_reason = reason
            unhealthy = held.failures >= self.settings.unhealthy_after
            w = held.wanted
        if self._metrics is not None:
            self._metrics.observe_health_failure(w.role)
        self.log.warning(
            "health_check_failed",
            hotkey=w.hotkey,
            role=w.role,
            reason=reason,
            failures=held.failures,
            unhealthy=unhealthy,
        )
        if not unhealthy:
            return
        self._teardown(key, f"unhealthy:{reason}", held)
        with self._lock:
            if w.role != "champion":
                self._back_off(key, f"unhealthy:{reason}")
        if w.role == "challenger":
            self._release(w, f"unhealthy:{reason}")
        self._publish()

    def _teardown(self, key: Miner, why: str, only: _Held | None = None) -> None:
        """Stop serving ``key`` (only if it is still ``only``, when given)."""
        with self._lock:
            held = self._held.get(key)
            if held is None or held.deployment is None or (only is not None and held is not only):
                return
            del self._held[key]
            d = held.deployment
            shown = self._shown.pop(d.id, None)
            if shown is not None:
                shown.torn_down, shown.reason = True, why
                self._torn_down.append(shown)
        self.log.info("deployment_torn_down", hotkey=d.hotkey, id=d.id, role=d.role, why=why)
        self._call(lambda: self.host.teardown(d), "teardown")

    # ---- helpers --------------------------------------------------------------------------

    def _show(self, held: _Held) -> None:
        d = held.deployment
        assert d is not None
        self._shown[d.id] = _Shown(
            d.hotkey, d.model, d.revision, held.wanted.role, max(0.0, d.ready_at - d.started_at)
        )

    def _call(self, call: Callable[[], None], what: str) -> None:
        try:
            call()
        except Exception as exc:  # the host says teardown never fails; should it, log it
            self.log.error("host_call_failed", call=what, error=f"{type(exc).__name__}: {exc}")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            finally:
                self._threads.discard(thread)

        thread = threading.Thread(target=run, name=f"hosting:{name}", daemon=True)
        self._threads.add(thread)
        thread.start()

    def _publish(self) -> None:
        """Tell the cache what to keep, the table who is deployed, the metrics how many."""
        with self._lock:
            pins = sorted(
                {(w.model, w.revision) for w in self._wanted.values()}
                | {(h.wanted.model, h.wanted.revision) for h in self._held.values()}
            )
            states: dict[tuple[str, str], int] = {}
            for h in self._held.values():
                state = (
                    "deploying"
                    if h.deployment is None
                    else "ready"
                    if h.failures == 0
                    else "failing"
                )
                states[(h.wanted.role, state)] = states.get((h.wanted.role, state), 0) + 1
        if self._pin is not None:
            self._call(lambda: self._pin(pins) if self._pin else None, "pin")
        if self._metrics is not None:
            self._metrics.observe_deployments(states)
        rows = self.deployed_now()
        if self._record is not None and rows != self._recorded:
            try:
                self._record(rows)
                self._recorded = rows
            except Exception as exc:  # the table is for readers: the next pass tries again
                self.log.error("deployments_not_recorded", error=f"{type(exc).__name__}: {exc}")
