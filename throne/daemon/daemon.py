"""The daemon's loops, each supervised and restarted on its own after a failure.

- chain sync: on every new block, the chain snapshot (plus model hashes) goes to the contest;
- contest tick: once the block is synced, every contest step due at it;
- sampler: pending evaluations, recorded in batches;
- weights: every N blocks, once the rate limit allows.

Chain sync, tick and weights are the writer's loops: on a log with a role lock (PostgreSQL) they
run only while this daemon holds it, and the daemon otherwise stands by, sampling
(``throne.daemon.role``).

Stopping (``stop`` set, e.g. by SIGTERM) ends every loop at its next await; the sampler
abandons what is in flight and records what has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import structlog

from throne.adapters.chain.port import Chain
from throne.application import ThroneApplication
from throne.daemon.model_hub import ModelHub
from throne.daemon.pool_seed import pool_seed
from throne.daemon.role import RoleLock, hold_role
from throne.daemon.sampler import Sampler
from throne.daemon.weight_setter import WeightSetter
from throne.domain.queue.commitment import ParsedCommitment, parse_commitment
from throne.observability.health import Heartbeat
from throne.observability.metrics import ThroneMetrics

Loop = Callable[[asyncio.Event], Awaitable[None]]
MAX_BACKOFF_SECONDS = 30.0


STEPS_KEPT = 100


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
    ) -> None:
        self.app = app
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
        # With a role lock, the daemon writes only once it holds it.
        self.state = DaemonState(role="writer" if role_lock is None else "standby")
        self.log = structlog.get_logger("throne.daemon")

    async def run(self, stop: asyncio.Event) -> None:
        writer: dict[str, Loop] = {"chain": self._chain_loop, "tick": self._tick_loop}
        if self.weight_setter is not None:
            writer["weights"] = self._weights_loop
        shared: dict[str, Loop] = {"sampler": lambda s: self.sampler.run(s, self.poll)}
        if self.projections is not None:
            shared["projections"] = self.projections
        if self.role_lock is None:  # the only daemon of its log (SQLite's lock file)
            await self._run_loops({**writer, **shared}, stop)
            return
        lock = self.role_lock

        def became(role: str) -> None:
            self.state.role = role

        def standing_by() -> None:  # a healthy standby is not a stalled daemon
            self.heartbeat.beat(self.state.ticked_block)

        shared["role"] = lambda s: hold_role(
            lock,
            s,
            lambda w: self._run_loops(writer, w),
            log=self.log,
            on_change=became,
            on_standby=standing_by,
        )
        await self._run_loops(shared, stop)

    async def _run_loops(self, loops: dict[str, Loop], stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._supervise(n, loop, stop) for n, loop in loops.items()))

    async def _supervise(self, name: str, loop: Loop, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                await loop(stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.state.restarts[name] = self.state.restarts.get(name, 0) + 1
                self.log.error("loop_failed", loop=name, error=f"{type(exc).__name__}: {exc}")
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _chain_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            block = await asyncio.to_thread(self.chain.current_block)
            if block > self.state.synced_block:
                await asyncio.to_thread(self.sync_chain)
                self.state.synced_block = block
            await _sleep_or_stop(stop, self.poll)

    def sync_chain(self) -> int:
        snapshot = self.chain.snapshot(self.netuid)
        models = set()
        for c in snapshot.commitments:
            m = _model_of(c.text)
            if m is not None:
                models.add(m)
        hashes = tuple(self.model_hub.model_hashes(sorted(models)))
        if hashes:
            snapshot = replace(snapshot, model_hashes=hashes)
        return self.app.observe_chain(snapshot)

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            block = self.state.synced_block
            if block > self.state.ticked_block:
                steps = await asyncio.to_thread(self._tick, block)
                self.state.ticked_block = block
                self.state.last_tick_time = time.time()
                self.heartbeat.beat(block)
                if self.metrics is not None:
                    self.metrics.observe_tick(block, steps)
                    if steps:
                        champ = (await asyncio.to_thread(self.app.standings))["champion"]
                        self.metrics.observe_champion(None if champ is None else champ["uid"])
                for step in steps:
                    self.state.steps.append((block, step))
                    self.log.info("contest_step", block=block, step=step)
                    if self.on_step is not None:
                        self.on_step(block, step)
            await _sleep_or_stop(stop, self.poll / 2)

    def _tick(self, block: int) -> list[str]:
        pool = self.app.pool()
        next_pool = 1 if pool is None else int(pool["pool"]) + 1
        return self.app.tick(block, pool_seed(self.secret, self.netuid, next_pool))

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
            await _sleep_or_stop(stop, self.poll)


def _model_of(text: str) -> tuple[str, str] | None:
    parsed = parse_commitment(text)
    if isinstance(parsed, ParsedCommitment):
        return parsed.model, parsed.revision
    return None


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
