"""The daemon's loops, each supervised and restarted on its own after a failure
(`throne.daemon.supervisor`), its outages shown by `/healthz`.

- chain sync: on every new block, the chain snapshot (plus model hashes) goes to the contest;
- contest tick: once the block is synced, every contest step due at it;
- sampler: pending evaluations, recorded in batches;
- weights: every N blocks, once the rate limit allows;
- hosting (when the models are hosted, `throne.daemon.hosting`): the champion, the challenger
  and the next queue members deployed; a battle starts only once both sides answer;
- publish (with ``[publish] to``, `throne.daemon.publishing`): the signed log to a bucket,
  every N blocks.

Chain sync, tick, weights, hosting and publish are the writer's loops: on a log with a role lock
(PostgreSQL) they run only while this daemon holds it, and the daemon otherwise stands by,
sampling (``throne.daemon.role``).

Stopping (``stop`` set, e.g. by SIGTERM) ends every loop at its next await; the sampler
abandons what is in flight and records what has finished.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import structlog

from throne.application import ThroneApplication
from throne.daemon.hosting import Hosting
from throne.daemon.pool_seed import pool_seed
from throne.daemon.role import hold_role
from throne.daemon.sampler import Sampler
from throne.daemon.supervisor import Loop, Nudge, Supervisor, progressed, sleep_or_stop
from throne.daemon.weight_setter import WeightSetter
from throne.domain.contest.state import Step
from throne.domain.queue.commitment import ParsedCommitment, parse_commitment
from throne.observability.health import Heartbeat
from throne.observability.metrics import ThroneMetrics
from throne.ports.chain import Chain
from throne.ports.model_hub import ModelHub
from throne.ports.role_lock import RoleLock
from throne.projections.read_side import ReadSide

STEPS_KEPT = 100


def stall_bound(poll_seconds: float) -> float:
    """How long a loop that only polls and reads the log may go without an iteration: ten
    polls, and never less than half a minute (eventsourcing retries a failed read for seconds)."""
    return max(30.0, 10 * poll_seconds)


@dataclass
class DaemonState:
    """What the loops have reached, for the status API and the demo's view."""

    synced_block: int = 0
    ticked_block: int = 0
    last_tick_time: float = 0.0
    #: the latest contest steps (block, step), oldest first; bounded, for a daemon that runs
    #: for months (the log holds them all)
    steps: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=STEPS_KEPT))
    restarts: dict[str, int] = field(default_factory=dict)
    #: "writer" while this daemon reads the chain, decides and sets weights; "standby" while
    #: another daemon of the log does (it then only samples)
    role: str = "writer"


class Daemon:
    def __init__(
        self,
        app: ThroneApplication,
        chain: Chain,
        sampler: Sampler,
        weight_setter: WeightSetter | None,
        model_hub: ModelHub,
        *,
        netuid: int,
        poll_seconds: float,
        secret: bytes | None = None,
        on_step: Callable[[int, str], None] | None = None,
        metrics: ThroneMetrics | None = None,
        heartbeat: Heartbeat | None = None,
        projections: Loop | None = None,
        role_lock: RoleLock | None = None,
        stall_after: float | Mapping[str, float] | None = None,
        reads: ReadSide | None = None,
        hosting: Hosting | None = None,
        publisher: Loop | None = None,
    ) -> None:
        """``hosting``: the scheduler of the miners' deployments, when models are hosted
        (None: a gateway serves every model, always ready); ``publisher``: the loop that
        publishes the signed log (None: it is not published); ``stall_after``: seconds a loop
        may go without completing an iteration before it is reported in outage, for all loops
        or by name (default: `stall_bound` of the poll); ``reads``: the read side of the log
        (default: one of its own, in memory)."""
        self.app = app
        self.reads = reads if reads is not None else ReadSide(app)
        self.chain = chain
        self.sampler = sampler
        self.weight_setter = weight_setter
        self.model_hub = model_hub
        self.netuid = netuid
        self.poll = poll_seconds
        self.secret = secret if secret is not None else os.urandom(32)
        self.on_step = on_step
        self.metrics = metrics
        self.heartbeat = heartbeat or Heartbeat()
        self.projections = projections
        self.role_lock = role_lock
        self.hosting = hosting
        self.publisher = publisher
        # With a role lock, the daemon writes only once it holds it.
        self.state = DaemonState(role="writer" if role_lock is None else "standby")
        self.log = structlog.get_logger("throne.daemon")
        outages = self.heartbeat.outages
        if metrics is not None and outages.listener is None:
            outages.listener = metrics.observe_outage
        # Samples recorded may decide the battle, at the block already ticked: tick again
        # then, rather than a block later; a battle that starts wakes the sampler.
        self._tick_again = Nudge()
        sampler.after_recording = self._tick_again.set
        self.supervisor = Supervisor(
            outages,
            restarts=self.state.restarts,
            stall_after=stall_bound(poll_seconds) if stall_after is None else stall_after,
        )

    async def run(self, stop: asyncio.Event) -> None:
        writer: dict[str, Loop] = {"chain": self._chain_loop, "tick": self._tick_loop}
        if self.weight_setter is not None:
            writer["weights"] = self._weights_loop
        if self.hosting is not None:
            writer["hosting"] = self.hosting.run
        if self.publisher is not None:
            writer["publish"] = self.publisher
        shared: dict[str, Loop] = {"sampler": lambda s: self.sampler.run(s, self.poll)}
        if self.projections is not None:
            shared["projections"] = self.projections
        if self.role_lock is None:  # the only daemon of its log (SQLite's lock file)
            await self.supervisor.run_all({**writer, **shared}, stop)
            return
        lock = self.role_lock

        def became(role: str) -> None:
            self.state.role = role

        def standing_by() -> None:  # a healthy standby is not a stalled daemon
            self.heartbeat.beat(self.state.ticked_block)

        shared["role"] = lambda s: hold_role(
            lock,
            s,
            lambda w: self.supervisor.run_all(writer, w),
            log=self.log,
            on_change=became,
            on_standby=standing_by,
        )
        await self.supervisor.run_all(shared, stop)

    async def _chain_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            block = await asyncio.to_thread(self.chain.current_block)
            if block > self.state.synced_block:
                await asyncio.to_thread(self.sync_chain)
                self.state.synced_block = block
            progressed()
            await sleep_or_stop(stop, self.poll)

    def sync_chain(self) -> int:
        snapshot = self.chain.snapshot(self.netuid)
        models = set()
        for c in snapshot.commitments:
            m = _model_of(c.text)
            if m is not None:
                models.add(m)
        hashes = tuple(self.model_hub.model_hashes(sorted(models)))
        # Learnt by the lookups just made: no request of its own.
        invalid = tuple(self.model_hub.invalid_models(sorted(models)))
        if hashes or invalid:
            snapshot = replace(snapshot, model_hashes=hashes, model_invalid=invalid)
        return self.app.observe_chain(snapshot)

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            block = self.state.synced_block
            again = self._tick_again.take()
            if block > self.state.ticked_block or (again and self.state.ticked_block > 0):
                started = time.perf_counter()
                steps = await asyncio.to_thread(self._tick, block)
                took = time.perf_counter() - started
                self.state.ticked_block = block
                self.state.last_tick_time = time.time()
                self.heartbeat.beat(block)
                if self.metrics is not None:
                    self.metrics.observe_tick(block, steps, took)
                    if steps:
                        champion = await asyncio.to_thread(self._champion_uid)
                        self.metrics.observe_champion(champion)
                if steps:  # new work, perhaps; and a step may make the next one due
                    self.sampler.wake.set()
                    self._tick_again.set()
                for step in steps:
                    self.state.steps.append((block, step))
                    self.log.info("contest_step", block=block, step=step)
                    if self.on_step is not None:
                        self.on_step(block, step)
            progressed()
            await self._tick_again.sleep(stop, self.poll / 2)

    def _tick(self, block: int) -> list[Step]:
        with self.reads.read() as r:
            pool = r.standings().pool
        next_pool = 1 if pool is None else pool.pool + 1
        ready = None if self.hosting is None else self.hosting.ready
        return self.app.tick(block, pool_seed(self.secret, self.netuid, next_pool), ready)

    def _champion_uid(self) -> int | None:
        with self.reads.read() as r:
            s = r.standings()
        champion = s.champion_record()
        return None if champion is None else champion.uid

    async def _weights_loop(self, stop: asyncio.Event) -> None:
        assert self.weight_setter is not None
        last_seen = 0
        while not stop.is_set():
            block = self.state.ticked_block
            if block > last_seen:
                last_seen = block
                sub = await asyncio.to_thread(self.weight_setter.maybe_submit, block)
                if sub is not None and self.metrics is not None:
                    self.metrics.observe_weights(sub.ok)
                if sub is not None:
                    self.log.info(
                        "weights_submitted",
                        block=sub.block,
                        ok=sub.ok,
                        weights=dict(sub.intended),
                        error=sub.error_code,
                    )
            progressed()
            await sleep_or_stop(stop, self.poll)


def _model_of(text: str) -> tuple[str, str] | None:
    parsed = parse_commitment(text)
    if isinstance(parsed, ParsedCommitment):
        return parsed.model, parsed.revision
    return None
