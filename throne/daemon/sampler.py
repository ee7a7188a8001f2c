"""Sampling: take the contest's pending work, have each env evaluate the miner's model, record.

Each env is an `EnvService`: throne's own envs ask the model and score in-process, remote ones
call the model themselves (docs/envs.md). Either way the sampler hands over the task id, the
seed and the endpoint that serves the model, and records the score, the latency, the tokens and
the transcript (content-addressed in the response store).

Every evaluation is independent and its result is recorded idempotently, so a crash loses at
most the evaluations in flight; they stay pending and are asked again after a restart.

No one sample stops the loop. The services classify what the far side does;
should anything else go wrong while a sample is asked or scored, that sample is an infra error
(not a score: it counts toward releasing the challenger, under the contest's rule), and one that
fails while it is stored stays pending. Each kind of such failure is logged once. Work whose
model is to be served but is not ready yet (`NotDeployed`, while hosting deploys it) is not
started at all: it waits, pending.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from throne.application import ThroneApplication, WorkItem
from throne.daemon.settings import SamplerSettings
from throne.daemon.supervisor import Nudge, progressed
from throne.domain.contest.samples import Sample
from throne.envs.protocol import CALL_GRACE_SECONDS, task_seed
from throne.ports.env_service import EnvService, EvalRequest, Scored, Unscored
from throne.ports.model_endpoints import ModelEndpoints, NotDeployed, UnknownModel
from throne.ports.response_store import ResponseStore
from throne.ports.work_claims import WorkClaims
from throne.projections.read_side import ReadSide

WorkKey = tuple[int, str, int, str, str, int]


def _key(w: WorkItem) -> WorkKey:
    return (w.pool, w.env, w.task_id, w.hotkey, w.revision, w.attempt)


def _claim(w: WorkItem) -> str:
    return "|".join(map(str, _key(w)))


def _key_of_sample(s: Sample) -> WorkKey:
    return (s.pool, s.env, s.task_id, s.hotkey, s.revision, s.attempt)


class _NotStarted(Exception):
    """The work's model stopped being served between taking the work and asking it: the work
    stays pending, as if never taken."""


@dataclass
class SamplerStats:
    asked: int = 0
    recorded: int = 0
    rejected: int = 0
    #: samples that failed in a way nothing classified (see the module docstring)
    unforeseen: int = 0
    by_outcome: dict[str, int] | None = None
    rejections: dict[str, int] | None = None
    #: samples without a score, by "ENV:reason" (env_timeout, score_not_finite, ...)
    reasons: dict[str, int] | None = None


class Sampler:
    def __init__(
        self,
        app: ThroneApplication,
        environments: Mapping[str, EnvService],
        endpoints: ModelEndpoints,
        responses: ResponseStore,
        settings: SamplerSettings,
        *,
        timeouts: Mapping[str, float] | None = None,
        on_sample: Callable[[Sample, float], None] | None = None,
        on_unscored: Callable[[str, Unscored], None] | None = None,
        claims: WorkClaims | None = None,
        reads: ReadSide | None = None,
    ) -> None:
        """``environments``: the services that run each env's tasks (in-process or remote).
        ``timeouts``: seconds for one evaluation, by env (default: the sampler's request
        timeout). ``reads``: the read side of the log, where the miners' models are looked up
        (default: one of its own, in memory)."""
        self._app = app
        self._reads = reads if reads is not None else ReadSide(app)
        # A (hotkey, revision) is one commitment: its model never changes.
        self._model_of: dict[tuple[str, str], str | None] = {}
        self._envs = environments
        self._endpoints = endpoints
        self._timeouts = dict(timeouts or {})
        self._on_unscored = on_unscored
        self._noted: set[str] = set()
        self._responses = responses
        self._settings = settings
        self._on_sample = on_sample
        self._claims = claims
        self._renew_every = settings.claim_ttl_seconds / 3
        self._in_flight: dict[WorkKey, asyncio.Task[Sample]] = {}
        self._done: list[Sample] = []
        self._told: set[tuple[str, str, str]] = set()
        #: set when there may be new work (a battle started): an idle sampler looks at once
        self.wake = Nudge()
        #: called after samples were recorded (the daemon ticks on it: a battle may be decided)
        self.after_recording: Callable[[], None] | None = None
        self.stats = SamplerStats(by_outcome={}, rejections={}, reasons={})
        self.log = structlog.get_logger("throne.sampler")

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Keep ``concurrency`` evaluations in flight until ``stop``; then abandon what is in
        flight (it stays pending in the contest) and record what has finished."""
        renewed = time.monotonic()
        try:
            while not stop.is_set():
                if self._claims is not None and time.monotonic() - renewed > self._renew_every:
                    renewed = time.monotonic()
                    keys = ["|".join(map(str, k)) for k in self._in_flight]
                    await asyncio.to_thread(self._claims.claim, keys)
                self.wake.take()  # this fill sees what a nudge announced until now
                started = await self._fill()
                if self._in_flight:
                    await asyncio.wait(
                        list(self._in_flight.values()),
                        timeout=poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    failed = self._collect()
                    if self._claims is not None and failed:
                        await asyncio.to_thread(self._claims.release, failed)
                elif not started:
                    await self.wake.sleep(stop, poll_seconds)
                if len(self._done) >= self._settings.batch_size or not self._in_flight:
                    await self.flush()
                progressed()
        finally:
            for task in self._in_flight.values():
                task.cancel()
            if self._in_flight:
                await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
            abandoned = ["|".join(map(str, k)) for k in self._in_flight]
            self._in_flight.clear()
            await self.flush()
            if self._claims is not None and abandoned:
                await asyncio.to_thread(self._claims.release, abandoned)

    async def _fill(self) -> int:
        room = self._settings.concurrency - len(self._in_flight)
        if room <= 0:
            return 0
        work = await asyncio.to_thread(self._app.pending_work)
        wanted = {(w.hotkey, w.revision) for w in work}
        if not wanted <= self._model_of.keys():
            await asyncio.to_thread(self._look_up_models, wanted)
        finished = {_key_of_sample(s) for s in self._done}
        fresh = [
            w
            for w in work
            if _key(w) not in self._in_flight
            and _key(w) not in finished
            and w.env in self._envs
            and self._served(w)
        ]
        # Alternate between the miners so that neither side waits for the other's backlog.
        by_miner: dict[str, list[WorkItem]] = {}
        for w in fresh:
            by_miner.setdefault(w.hotkey, []).append(w)
        # With claims, ask for more than there is room for: other workers may hold some.
        want = room if self._claims is None else room * 4
        queue: list[WorkItem] = []
        while any(by_miner.values()) and len(queue) < want:
            for items in by_miner.values():
                if items and len(queue) < want:
                    queue.append(items.pop(0))
        if self._claims is not None and queue:
            held = set(await asyncio.to_thread(self._claims.claim, [_claim(w) for w in queue]))
            queue = [w for w in queue if _claim(w) in held]
            extra = queue[room:]
            queue = queue[:room]
            if extra:
                await asyncio.to_thread(self._claims.release, [_claim(w) for w in extra])
        for w in queue:
            model = self._model_of.get((w.hotkey, w.revision))
            self._in_flight[_key(w)] = asyncio.create_task(self.evaluate(w, model))
        self.stats.asked += len(queue)
        return len(queue)

    def _served(self, w: WorkItem) -> bool:
        """False while the work's model is to be served but is not ready (`NotDeployed`), or
        while the read side has not yet caught up with the miner the log already samples
        (right after a crown or a battle start): its work waits, pending, instead of failing
        as an infra error that would count against the miner."""
        if (w.hotkey, w.revision) not in self._model_of:
            return False
        model = self._model_of[(w.hotkey, w.revision)]
        if model is None:
            return True  # an infra error, as before
        try:
            self._endpoints.resolve(model, w.revision)
        except NotDeployed:
            return False
        except UnknownModel:
            return True  # an infra error, when asked
        return True

    def _look_up_models(self, wanted: set[tuple[str, str]]) -> None:
        with self._reads.read() as r:
            standings = r.standings()
        for hotkey, revision in wanted:
            m = standings.miner(hotkey)
            if m is not None and m.revision == revision:
                self._model_of[(hotkey, revision)] = m.model

    def _collect(self) -> list[str]:
        """Move finished evaluations to the batch; the claims of those that raised, which stay
        pending, to be released."""
        failed = []
        for key, task in list(self._in_flight.items()):
            if not task.done():
                continue
            del self._in_flight[key]
            if task.cancelled():
                continue
            exc = task.exception()
            if isinstance(exc, _NotStarted):
                failed.append("|".join(map(str, key)))
                continue
            if exc is not None:
                self._tell("storing the answer", key[1], exc, key)
                failed.append("|".join(map(str, key)))
                continue
            self._done.append(task.result())
        return failed

    def _tell(self, stage: str, env: str, exc: BaseException, key: WorkKey) -> None:
        """Log an unforeseen failure once per stage, env and kind of exception."""
        self.stats.unforeseen += 1
        told = (stage, env, type(exc).__name__)
        if told in self._told:
            return
        self._told.add(told)
        pool, _, task_id, hotkey, revision, attempt = key
        self.log.error(
            "sample_failed_unforeseen",
            stage=stage,
            env=env,
            task_id=task_id,
            hotkey=hotkey,
            revision=revision,
            pool=pool,
            attempt=attempt,
            error=" ".join(f"{type(exc).__name__}: {exc}".split())[:500],
            outcome="infra_error" if stage == "asking or scoring" else "left pending",
            told="once per stage, env and kind of error",
        )

    async def flush(self) -> None:
        if not self._done:
            return
        batch, self._done = self._done, []
        report = await asyncio.to_thread(self._app.record_samples, batch)
        if self._claims is not None:
            keys = ["|".join(map(str, _key_of_sample(s))) for s in batch]
            await asyncio.to_thread(self._claims.release, keys)
        self.stats.recorded += report.accepted
        if report.accepted and self.after_recording is not None:
            self.after_recording()
        self.stats.rejected += len(report.rejected)
        assert self.stats.by_outcome is not None and self.stats.rejections is not None
        for _, reason in report.rejected:
            kind = reason.split(":", 1)[0]
            self.stats.rejections[kind] = self.stats.rejections.get(kind, 0) + 1
        for s in batch:
            self.stats.by_outcome[s.outcome] = self.stats.by_outcome.get(s.outcome, 0) + 1

    async def evaluate(self, w: WorkItem, model: str | None) -> Sample:
        """One evaluation. Asking and scoring never raise (cancellation aside): what nothing
        classified is this sample's infra error. Storing the transcript may raise (our
        database), and a model that stopped being served raises `_NotStarted` (the work stays
        pending)."""
        try:
            outcome = await self._ask_env(w, model)
        except _NotStarted:
            raise
        except Exception as exc:
            self._tell("asking or scoring", w.env, exc, _key(w))
            return self._sample(w, "infra_error", 0.0)
        if outcome is None:
            return self._sample(w, "infra_error", 0.0)
        digest = ""
        # A score's transcript is always kept (for throne's own envs, the model's answer); a
        # failure's, when the env sent one.
        if isinstance(outcome, Scored) or outcome.transcript:
            digest = await asyncio.to_thread(self._responses.put, outcome.transcript)
        if isinstance(outcome, Unscored):
            self._note(w.env, outcome)
            return self._sample(w, outcome.kind, 0.0, outcome.latency, response_digest=digest)
        return self._sample(
            w,
            "ok",
            outcome.score,
            outcome.latency,
            prompt_tokens=outcome.usage.prompt_tokens,
            completion_tokens=outcome.usage.completion_tokens,
            response_digest=digest,
        )

    async def _ask_env(self, w: WorkItem, model: str | None) -> Scored | Unscored | None:
        """The env's outcome for this work; None when no endpoint serves the model."""
        env = self._envs[w.env]
        if model is None:
            return None
        try:
            endpoint = self._endpoints.resolve(model, w.revision)
        except NotDeployed as exc:
            raise _NotStarted(str(exc)) from exc
        except UnknownModel:
            return None
        timeout = self._timeouts.get(w.env, self._settings.request_timeout_seconds)
        request = EvalRequest(
            task_id=w.task_id,
            seed=task_seed(w.env, w.task_id),
            endpoint=endpoint,
            temperature=self._settings.temperature,
            max_tokens=self._settings.max_tokens or None,
            timeout=timeout,
        )
        started = time.monotonic()
        try:
            # The env bounds its own calls; this is the net under it.
            async with asyncio.timeout(timeout + 2 * CALL_GRACE_SECONDS):
                return await env.evaluate(request)
        except TimeoutError:
            return Unscored("infra_error", "env_timeout", time.monotonic() - started)

    def _note(self, env: str, outcome: Unscored) -> None:
        """Count an unscored sample by env and reason; log each env and reason once."""
        assert self.stats.reasons is not None
        key = f"{env}:{outcome.reason}"
        self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
        if self._on_unscored is not None:
            self._on_unscored(env, outcome)
        if key not in self._noted:
            self._noted.add(key)
            self.log.warning(
                "sample_unscored",
                env=env,
                outcome=outcome.kind,
                reason=outcome.reason,
                detail=" ".join(outcome.detail.split())[:300],
                told="once per env and reason",
            )

    def _sample(
        self, w: WorkItem, outcome: str, score: float, latency: float = 0.0, **kw: object
    ) -> Sample:
        s = Sample(
            pool=w.pool,
            env=w.env,
            task_id=w.task_id,
            hotkey=w.hotkey,
            revision=w.revision,
            score=score,
            outcome=outcome,  # type: ignore[arg-type]
            latency_ms=int(latency * 1000),
            attempt=w.attempt,
            **kw,  # type: ignore[arg-type]
        )
        if self._on_sample is not None:
            self._on_sample(s, latency)
        return s
