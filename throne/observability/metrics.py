"""Prometheus metrics of the validator, on a registry of its own (never the global one), so
several daemons in one process or test never collide.

The daemon calls the small ``observe_*`` methods; ``/metrics`` serves `ThroneMetrics.exposition`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Model calls take from a fraction of a second to minutes.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
DECISIONS = ("dethroned", "terminated", "released")
# An engine is ready in seconds (a small model) to half an hour (a large one, downloaded).
DEPLOY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
DEPLOYMENT_ROLES = ("champion", "challenger", "pre_challenger")
DEPLOYMENT_STATES = ("deploying", "ready", "failing")
NO_CHAMPION = -1
# A tick reads the standings and writes the steps due: milliseconds on a small log, seconds
# on a large one or a database far away.
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ThroneMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.samples_scored = Counter(
            "throne_samples_scored",
            "Samples recorded, by env and outcome (ok, model_error, infra_error).",
            ["env", "outcome"],
            registry=r,
        )
        self.inference_latency = Histogram(
            "throne_inference_latency_seconds",
            "Latency of one inference call, by env.",
            ["env"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.samples_unscored = Counter(
            "throne_samples_unscored",
            "Samples without a score, by env and reason (env_timeout, score_not_finite, ...).",
            ["env", "reason"],
            registry=r,
        )
        self.failures = Counter(
            "throne_failures",
            "Failures, by kind (e.g. inference, sandbox, chain).",
            ["kind"],
            registry=r,
        )
        self.battles_decided = Counter(
            "throne_battles_decided",
            "Battles ended, by result (dethroned, terminated, released).",
            ["result"],
            registry=r,
        )
        self.champion_uid = Gauge(
            "throne_champion_uid", "UID of the current champion (-1: none).", registry=r
        )
        self.weight_submissions = Counter(
            "throne_weight_submissions",
            "Weight submissions, by result (ok, failed).",
            ["result"],
            registry=r,
        )
        self.projection_lag = Gauge(
            "throne_projection_lag_events",
            "Events of the log a projection has not processed yet.",
            ["projection"],
            registry=r,
        )
        self.last_tick_block = Gauge(
            "throne_last_tick_block", "Chain block of the last contest tick.", registry=r
        )
        self.tick_seconds = Histogram(
            "throne_tick_seconds",
            "Seconds one contest tick took: the standings read, every step due written.",
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.outages = Counter(
            "throne_outages",
            "Outages of a daemon loop (a run of failures ended by a success), by loop.",
            ["loop"],
            registry=r,
        )
        self.in_outage = Gauge(
            "throne_loop_in_outage", "1 while the loop is in outage, else 0.", ["loop"], registry=r
        )
        self.deployments = Gauge(
            "throne_deployments",
            "Deployments of miners' models now, by role and state (deploying, ready, failing).",
            ["role", "state"],
            registry=r,
        )
        self.deploy_ready = Histogram(
            "throne_deploy_ready_seconds",
            "Seconds from the start of a deploy until its engine was ready.",
            buckets=DEPLOY_BUCKETS,
            registry=r,
        )
        self.health_failures = Counter(
            "throne_health_check_failures",
            "Failed health checks of deployments, by role.",
            ["role"],
            registry=r,
        )
        self.champion_uid.set(NO_CHAMPION)

    def observe_sample(self, env: str, outcome: str, latency_seconds: float | None = None) -> None:
        """One sample recorded; its inference latency when a model was called."""
        self.samples_scored.labels(env=env, outcome=outcome).inc()
        if latency_seconds is not None:
            self.inference_latency.labels(env=env).observe(latency_seconds)

    def observe_unscored(self, env: str, reason: str) -> None:
        self.samples_unscored.labels(env=env, reason=reason).inc()

    def observe_failure(self, kind: str) -> None:
        self.failures.labels(kind=kind).inc()

    def observe_tick(
        self, block: int, steps: Iterable[str] = (), seconds: float | None = None
    ) -> None:
        """A contest tick at ``block``, the steps it returned (``ThroneApplication.tick``) and
        how long it took, when timed."""
        self.last_tick_block.set(block)
        if seconds is not None:
            self.tick_seconds.observe(seconds)
        for step in steps:
            if step in DECISIONS:
                self.battles_decided.labels(result=step).inc()

    def observe_champion(self, uid: int | None) -> None:
        self.champion_uid.set(NO_CHAMPION if uid is None else uid)

    def observe_weights(self, ok: bool) -> None:
        self.weight_submissions.labels(result="ok" if ok else "failed").inc()

    def observe_projection_lag(self, projection: str, events_behind: int) -> None:
        self.projection_lag.labels(projection=projection).set(events_behind)

    def observe_outage(self, loop: str, active: bool) -> None:
        """An outage of ``loop`` started (``active``) or ended."""
        if active:
            self.outages.labels(loop=loop).inc()
        self.in_outage.labels(loop=loop).set(1 if active else 0)

    def observe_deployments(self, counts: dict[tuple[str, str], int]) -> None:
        """How many deployments there are now, by ``(role, state)``; absent pairs are 0."""
        for role in DEPLOYMENT_ROLES:
            for state in DEPLOYMENT_STATES:
                self.deployments.labels(role=role, state=state).set(counts.get((role, state), 0))

    def observe_deploy_ready(self, seconds: float) -> None:
        self.deploy_ready.observe(seconds)

    def observe_health_failure(self, role: str) -> None:
        self.health_failures.labels(role=role).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric here."""
        return bytes(generate_latest(self.registry))
