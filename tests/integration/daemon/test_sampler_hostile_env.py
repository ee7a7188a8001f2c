"""The sampler against a hostile env service: whatever the env answers, each sample ends in a
classified outcome, the reason is counted and logged once, and the loop samples on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.responses import Response, StreamingResponse
from structlog.testing import capture_logs

from tests.integration.daemon.test_sampler_failures import run_until, sat_work
from tests.support.contest import Driver, small_config
from tests.support.env_services import Hits, protocol_app
from throne.adapters.envs.remote import RemoteEnv
from throne.adapters.envs.transport import EnvProtocolClient
from throne.adapters.inference import StaticModelEndpoints
from throne.adapters.storage.responses import InMemoryResponseStore
from throne.daemon.sampler import Sampler
from throne.daemon.settings import SamplerSettings
from throne.domain.contest.config import EnvConfig
from throne.envs.protocol import Call, Evaluation, dump_answer, dump_failure
from throne.miners import BackgroundServer
from throne.ports.env_service import Unscored
from throne.ports.model_endpoints import Endpoint

#: what the env does, by task id modulo their count, and the reason the sample gets
BEHAVIOURS = [
    ("html", "model_error", "not_json"),
    ("flood", "model_error", "body_too_large"),
    ("hang", "infra_error", "env_timeout"),
    ("no_score", "model_error", "score_missing"),
    ("nan", "model_error", "score_not_finite"),
    ("two", "model_error", "score_out_of_range"),
    ("string", "model_error", "score_not_a_number"),
    ("no_result", "model_error", "no_result"),
    ("failed", "model_error", "env_failed"),
    ("down", "infra_error", "env_http_503"),
    ("good", "ok", ""),
]


def _answer(result: object) -> Response:
    return Response(dump_answer(result), media_type="application/json")


async def on_call(replica: str, call: Call) -> Response:
    behaviour = BEHAVIOURS[int(call.kwargs["task_id"]) % len(BEHAVIOURS)][0]
    if behaviour == "flood":
        return Response(b"[" + b" " * (10 * 1024 * 1024) + b"]", media_type="application/json")
    if behaviour == "hang":

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"status": "success", '
            await asyncio.sleep(5)
            yield b"}"

        return StreamingResponse(chunks(), media_type="application/json")
    answers = {
        "html": Response("<html>502 Bad Gateway</html>", media_type="text/html"),
        "no_score": _answer({"success": True}),
        "nan": Response(b'{"status": "success", "result": {"score": NaN}}'),
        "two": _answer({"score": 2.0}),
        "string": _answer({"score": "1"}),
        "no_result": Response(b'{"status": "success"}'),
        "failed": Response(dump_failure("the task's container died")),
        "down": Response("overloaded", status_code=503),
        "good": _answer(Evaluation(1.0).dump()),
    }
    return answers[behaviour]


@pytest.fixture(scope="module")
def env_url() -> Iterator[str]:
    app = protocol_app(Hits(), on_call, lambda replica: ["evaluate"])
    with BackgroundServer(app) as server:
        yield f"{server.url}/sat"


def crowned() -> Driver:
    """A champion with a pool of 66 SAT tasks: every behaviour meets a few."""
    d = Driver(small_config(envs=(EnvConfig("SAT", 60, (0, 1000)),)))
    d.join("champ", block=1)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    return d


def test_every_hostile_answer_is_a_classified_sample_and_sampling_goes_on(env_url: str) -> None:
    d = crowned()
    first_round = sat_work(d)
    env = RemoteEnv("SAT", EnvProtocolClient([env_url], retries=0, grace=0.0))
    unscored: list[tuple[str, Unscored]] = []
    s = Sampler(
        d.app,
        {"SAT": env},
        StaticModelEndpoints({"org/affine-champ": Endpoint("http://127.0.0.1:9/v1", "champ")}),
        InMemoryResponseStore(),
        SamplerSettings(concurrency=8, batch_size=4, request_timeout_seconds=0.5),
        on_unscored=lambda name, outcome: unscored.append((name, outcome)),
    )
    wanted = {f"SAT:{reason}" for _, kind, reason in BEHAVIOURS if kind != "ok"}

    def every_behaviour_met() -> bool:
        return s.stats.recorded >= len(first_round) and wanted <= set(s.stats.reasons or {})

    with capture_logs() as logs:
        run_until(s, every_behaviour_met, env.aclose)
    assert s.stats.unforeseen == 0
    expected = {(b[0], b[1], b[2]) for b in BEHAVIOURS}
    seen = {t % len(BEHAVIOURS) for t, _ in first_round}
    assert len(seen) == len(BEHAVIOURS), "the pool covers every behaviour"
    reasons = s.stats.reasons or {}
    for behaviour, kind, reason in expected:
        if kind == "ok":
            continue
        assert reasons.get(f"SAT:{reason}", 0) >= 1, (behaviour, reasons)
    assert {o.reason for _, o in unscored} == {r for _, k, r in expected if k != "ok"}
    assert s.stats.by_outcome is not None and s.stats.by_outcome["ok"] >= 1
    # Each env and reason is logged once, however many samples it ends.
    told = [(e["env"], e["reason"]) for e in logs if e["event"] == "sample_unscored"]
    assert sorted(told) == sorted(set(told))
    # Infra errors are no scores: their tasks are asked again; the others were recorded.
    again = {t for t, attempt in sat_work(d) if attempt >= 1}
    infra = {i for i, (_, kind, _) in enumerate(BEHAVIOURS) if kind == "infra_error"}
    assert again and {t % len(BEHAVIOURS) for t in again} <= infra
