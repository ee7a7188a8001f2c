"""The sampler outlives any one sample: what nothing classified is that sample's failure."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from structlog.testing import capture_logs

from tests.support.contest import Driver
from throne.adapters.envs.in_process import InProcessEnv
from throne.adapters.inference import AiohttpChatCompletions, StaticModelEndpoints
from throne.adapters.storage.responses import InMemoryResponseStore, SqlResponseStore
from throne.daemon.sampler import Sampler
from throne.daemon.settings import SamplerSettings
from throne.envs.base import Environment, Evaluation, Task
from throne.envs.sat import SatEnvironment
from throne.miners import BackgroundServer, MinerProfile, MinerServer
from throne.ports.chat_completions import ChatCompletions
from throne.ports.model_endpoints import Endpoint
from throne.ports.response_store import ResponseStore, digest_of
from throne.projections.read_side import ReadSide

DEADLINE_SECONDS = 60.0


class BrittleSat(SatEnvironment):
    """SAT with a scoring bug: it reads every answer as JSON first, as a careless scorer might."""

    def evaluate(self, task: Task, response: str) -> Evaluation:
        json.loads(response)
        return super().evaluate(task, response)


@pytest.fixture(scope="module")
def miner() -> Iterator[str]:
    envs: list[Environment] = [SatEnvironment()]
    with MinerServer([MinerProfile("champ", skill=1.0)], envs) as server:
        yield server.base_url


def crowned() -> Driver:
    d = Driver()
    d.join("champ", block=1)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    return d


def sat_work(d: Driver) -> set[tuple[int, int]]:
    return {(w.task_id, w.attempt) for w in d.app.pending_work() if w.env == "SAT"}


def run_until(
    sampler: Sampler, done: Callable[[], bool], *closing: Callable[[], Awaitable[None]]
) -> None:
    """Run the sampler's loop until ``done`` holds (or the deadline passes), then stop it; the
    loop must end by itself, without raising. ``closing``: what to close afterwards, within
    the same event loop (the clients the sampler's services opened)."""

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(sampler.run(stop, poll_seconds=0.05))
        deadline = asyncio.get_running_loop().time() + DEADLINE_SECONDS
        while not done() and not loop.done() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        assert not loop.done(), "the sampler's loop ended on its own"
        stop.set()
        await loop
        for close in closing:
            await close()

    asyncio.run(go())


def sampler(
    d: Driver,
    env: Environment,
    miner: str,
    client: ChatCompletions,
    responses: ResponseStore | None = None,
) -> Sampler:
    return Sampler(
        d.app,
        {"SAT": InProcessEnv(env, client)},
        StaticModelEndpoints({"org/affine-champ": Endpoint(miner, "champ")}),
        responses or InMemoryResponseStore(),
        SamplerSettings(concurrency=4, batch_size=2),
    )


def test_an_answer_that_breaks_scoring_is_an_infra_error_and_sampling_goes_on(
    miner: str,
) -> None:
    d = crowned()
    first_round = sat_work(d)
    s = sampler(d, BrittleSat(), miner, AiohttpChatCompletions())

    def every_task_failed_once() -> bool:
        # Counting records is not enough: one task may fail twice before another fails once.
        return all(attempt >= 1 for _, attempt in sat_work(d))

    with capture_logs() as logs:
        run_until(s, every_task_failed_once)
    assert s.stats.recorded >= len(first_round)
    assert s.stats.by_outcome is not None and set(s.stats.by_outcome) == {"infra_error"}
    assert s.stats.unforeseen >= len(first_round)
    told = [e for e in logs if e["event"] == "sample_failed_unforeseen"]
    assert len(told) == 1, "told once, not once per sample"
    assert told[0]["stage"] == "asking or scoring" and told[0]["outcome"] == "infra_error"
    assert told[0]["error"].startswith("JSONDecodeError")
    # Infra errors are no scores: every task is asked again, as a later attempt.
    assert {t for t, _ in sat_work(d)} == {t for t, _ in first_round}
    assert all(attempt >= 1 for _, attempt in sat_work(d))


def test_a_client_that_raises_gives_infra_errors_not_a_dead_loop(miner: str) -> None:
    d = crowned()
    first_round = sat_work(d)
    client = AiohttpChatCompletions()
    asyncio.run(client.aclose())  # a closed client raises on every call
    s = sampler(d, SatEnvironment(), miner, client)
    run_until(s, lambda: s.stats.recorded >= len(first_round))
    assert s.stats.by_outcome == {"infra_error": s.stats.recorded}


def test_an_answer_that_cannot_be_stored_stays_pending_and_sampling_goes_on(
    miner: str, tmp_path: Path
) -> None:
    d = crowned()
    first_round = sat_work(d)
    path = tmp_path / "responses.db"
    SqlResponseStore(sa.create_engine(f"sqlite:///{path}"))
    read_only = sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    store = SqlResponseStore(read_only, create_table=False)
    s = sampler(d, SatEnvironment(), miner, AiohttpChatCompletions(), store)
    with capture_logs() as logs:
        run_until(s, lambda: s.stats.unforeseen >= 2 * len(first_round))
    assert s.stats.unforeseen >= 2 * len(first_round)
    assert s.stats.recorded == 0
    assert sat_work(d) == first_round, "nothing recorded, nothing lost"
    told = [e for e in logs if e["event"] == "sample_failed_unforeseen"]
    assert len(told) == 1 and told[0]["outcome"] == "left pending"
    assert "readonly" in told[0]["error"]


def test_an_answer_with_a_lone_surrogate_is_stored_and_scored_not_a_dead_loop() -> None:
    # NaN makes the strict parser refuse the body; the lenient one reads the lone surrogate,
    # which no UTF-8 encoder writes: the answer is stored with U+FFFD in its place.
    body = b'{"p": NaN, "choices": [{"message": {"content": "x1=True \\ud800"}}]}'

    async def answer(request: Request) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/v1/chat/completions", answer, methods=["POST"])])
    d = crowned()
    first_round = sat_work(d)
    store = InMemoryResponseStore()
    with BackgroundServer(app) as server:
        s = sampler(d, SatEnvironment(), f"{server.url}/v1", AiohttpChatCompletions(), store)
        run_until(s, lambda: s.stats.recorded >= len(first_round))
    assert s.stats.by_outcome == {"ok": s.stats.recorded} and s.stats.unforeseen == 0
    assert store.get(digest_of("x1=True \ufffd".encode())) == "x1=True \ufffd".encode()


class LaggingReads:
    """A read side that has not yet seen the first ``behind`` looks up: as a projection is,
    for a moment, right after the log crowned a champion or started a battle."""

    def __init__(self, real: ReadSide, behind: int) -> None:
        self.real, self.behind, self.looks = real, behind, 0

    @contextlib.contextmanager
    def read(self) -> Iterator[Any]:
        self.looks += 1
        with self.real.read() as r:
            if self.looks > self.behind:
                yield r
                return
            unaware = SimpleNamespace(miner=lambda hotkey: None)
            yield SimpleNamespace(standings=lambda: unaware)


def test_work_for_a_miner_the_read_side_has_not_seen_yet_waits_instead_of_failing(
    miner: str,
) -> None:
    d = crowned()
    reads = LaggingReads(ReadSide(d.app), behind=3)
    s = Sampler(
        d.app,
        {"SAT": InProcessEnv(SatEnvironment(), AiohttpChatCompletions())},
        StaticModelEndpoints({"org/affine-champ": Endpoint(miner, "champ")}),
        InMemoryResponseStore(),
        SamplerSettings(concurrency=4, batch_size=2),
        reads=reads,  # type: ignore[arg-type]
    )
    run_until(s, lambda: not sat_work(d))
    assert reads.looks > 3  # it looked again once the read side had caught up
    assert s.stats.by_outcome == {"ok": s.stats.recorded}
