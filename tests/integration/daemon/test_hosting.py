"""The hosting scheduler against real engines: each deployment is a local miner server on
loopback (`tests.support.miner_host`), checked over HTTP. The contest is a real application
in memory; time for health checks and backoffs is a clock the test moves."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.support.clock import FakeClock
from tests.support.contest import Driver, fixed, small_config
from tests.support.miner_host import MinerHost
from throne.daemon.hosting import Hosting, Schedule
from throne.envs.sat import SatEnvironment
from throne.observability.metrics import ThroneMetrics
from throne.ports.model_endpoints import NotDeployed, UnknownModel

WAIT_SECONDS = 30.0


def model(hotkey: str) -> str:
    return f"org/affine-{hotkey}"


@pytest.fixture
def host() -> Iterator[MinerHost]:
    h = MinerHost([SatEnvironment()], slots=4)
    yield h
    h.close_all()


def contest(*queued: str, max_releases: int = 3) -> Driver:
    """``champ`` on the throne (champion scores in), the others queued in order."""
    d = Driver(small_config(max_releases=max_releases))
    d.join("champ", block=1)
    for i, hotkey in enumerate(queued):
        d.join(hotkey, block=2 + i)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    d.score({"champ": fixed(0.5)})
    return d


class Run:
    """A scheduler over ``host`` and ``d``'s log, driven pass by pass."""

    def __init__(self, d: Driver, host: MinerHost, **settings: object) -> None:
        self.d = d
        self.clock = FakeClock()
        self.pins: list[list[tuple[str, str]]] = []
        self.recorded: list[list[dict[str, object]]] = []
        self.metrics = ThroneMetrics()
        self.hosting = Hosting(
            d.app,
            host,
            d.reads,
            Schedule(**{"health_every": 10.0, "unhealthy_after": 2, **settings}),  # type: ignore[arg-type]
            current_block=lambda: d.chain.block,
            pin=lambda pairs: self.pins.append(list(pairs)),
            record=self.recorded.append,
            metrics=self.metrics,
            clock=self.clock,
        )

    def until(self, done: Callable[[], bool], what: str) -> None:
        """Reconcile (and let host calls finish) until ``done``, within a bound."""
        import time

        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            self.hosting.reconcile()
            self.hosting.join(timeout=0.1)  # a gated deploy stays in flight
            if done():
                return
        raise AssertionError(f"not reached in {WAIT_SECONDS}s: {what}")

    def roles(self) -> dict[str, str]:
        return {r["hotkey"]: r["role"] for r in self.hosting.deployed_now()}

    def tick(self, block: int) -> list[str]:
        return self.d.tick(block, ready=self.hosting.ready)

    def checks(self, n: int) -> None:
        """``n`` rounds of health checks (the clock moved past each interval)."""
        for _ in range(n):
            self.clock.advance(10.0)
            self.hosting.reconcile()
            self.hosting.join(timeout=WAIT_SECONDS)


def test_the_champion_and_the_next_two_are_deployed_and_no_more(host: MinerHost) -> None:
    d = contest("a", "b", "c")
    run = Run(d, host)
    want = {"champ": "champion", "a": "pre_challenger", "b": "pre_challenger"}
    run.until(lambda: run.roles() == want, "champion and two pre-deployed")
    assert host.running() == want
    assert run.hosting.ready("champ", "r1") and run.hosting.ready("a", "r1")
    assert not run.hosting.ready("c", "r1")
    assert sorted(run.pins[-1]) == [(model(h), "r1") for h in ("a", "b", "champ")]
    assert run.recorded and {r["hotkey"] for r in run.recorded[-1]} == set(want)
    text = run.metrics.exposition().decode()
    assert 'throne_deployments{role="pre_challenger",state="ready"} 2.0' in text
    assert "throne_deploy_ready_seconds_count 3.0" in text


def test_each_spec_carries_the_commitments_other_keys(host: MinerHost) -> None:
    d = Driver(small_config())
    d.chain.register("champ")
    d.chain.commit("champ", json.dumps({"model": model("champ"), "revision": "r1"}), block=1)
    d.chain.register("a")
    extra = {"chute_id": "chute-a", "note": ["kept", 1]}
    d.chain.commit("a", json.dumps({"model": model("a"), "revision": "r1", **extra}), block=2)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    run = Run(d, host)
    run.until(lambda: set(run.roles()) == {"champ", "a"}, "both deployed")
    specs = {s.hotkey: s for s in host.deployed}
    assert specs["a"].extra == extra
    assert specs["champ"].extra == {}


def test_deploys_go_champion_first_on_the_free_slots_only(host: MinerHost) -> None:
    host.slots = 2
    d = contest("a", "b")
    run = Run(d, host)
    run.until(lambda: len(run.roles()) == 2, "two slots filled")
    assert run.roles() == {"champ": "champion", "a": "pre_challenger"}
    assert [s.hotkey for s in host.deployed] == ["champ", "a"]


def test_a_battle_waits_for_both_sides_and_the_pre_deployed_one_keeps_its_engine(
    host: MinerHost,
) -> None:
    host.gate(model("a"))
    d = contest("a")
    run = Run(d, host)
    run.until(lambda: "champ" in run.roles(), "champion deployed")
    assert run.tick(4) == [], "the challenger's engine is still loading"
    with pytest.raises(NotDeployed):
        run.hosting.endpoints.resolve(model("a"), "r1")
    host.release_gate(model("a"))
    run.until(lambda: "a" in run.roles(), "challenger deployed")
    [first] = [r["deployment_id"] for r in run.hosting.deployed_now() if r["hotkey"] == "a"]
    assert run.tick(5) == ["battle_started"]
    run.until(lambda: run.roles().get("a") == "challenger", "promoted in place")
    assert [r["deployment_id"] for r in run.hosting.deployed_now() if r["hotkey"] == "a"] == [first]
    assert [s.hotkey for s in host.deployed].count("a") == 1
    endpoint = run.hosting.endpoints.resolve(model("a"), "r1")
    assert endpoint.model == model("a") and endpoint.base_url.startswith("http://127.0.0.1:")
    with pytest.raises(UnknownModel) as raised:
        run.hosting.endpoints.resolve("org/nobody", "r1")
    assert not isinstance(raised.value, NotDeployed)


def test_stop_serving_tears_down_every_engine_even_one_still_loading(host: MinerHost) -> None:
    import threading

    host.gate(model("b"))
    d = contest("a", "b")
    run = Run(d, host)
    run.until(lambda: set(run.roles()) == {"champ", "a"}, "two ready, one loading")
    stopping = threading.Thread(target=run.hosting.stop_serving, args=("the end", WAIT_SECONDS))
    stopping.start()
    host.release_gate(model("b"))  # it gets ready while (or before) serving stops
    stopping.join(WAIT_SECONDS)
    assert not stopping.is_alive()
    assert host.running() == {}
    assert run.hosting.deployed_now() == []
    shown = run.hosting.deployments()
    assert {s["hotkey"] for s in shown} >= {"champ", "a"}
    assert all(s["torn_down"] for s in shown)
    assert {s["reason"] for s in shown if s["hotkey"] in ("champ", "a")} == {"the end"}
    assert run.recorded[-1] == []


def test_the_loser_is_torn_down_and_the_champion_stays(host: MinerHost) -> None:
    d = contest("a", "b")
    run = Run(d, host)
    run.until(lambda: len(run.roles()) == 3, "deployed")
    assert run.tick(4) == ["battle_started"]
    d.score({"a": fixed(0.0)})
    assert run.tick(5) == ["terminated", "battle_started"]
    run.until(lambda: "a" not in host.running(), "loser torn down")
    assert run.roles() == {"champ": "champion", "b": "challenger"}
    shown = {(x["hotkey"], x["torn_down"]) for x in run.hosting.deployments()}
    assert ("a", True) in shown and ("champ", False) in shown


def test_without_pre_deployment_each_challenger_is_deployed_when_its_battle_is_due(
    host: MinerHost,
) -> None:
    d = contest("a", "b")
    run = Run(d, host, pre_deploy=0)
    run.until(lambda: run.roles() == {"champ": "champion", "a": "pre_challenger"}, "head only")
    assert run.tick(4) == ["battle_started"]
    run.until(lambda: run.roles() == {"champ": "champion", "a": "challenger"}, "promoted")
    assert "b" not in host.running(), "nothing is deployed ahead of its battle"
    d.score({"a": fixed(0.0)})
    assert run.tick(5) == ["terminated"], "b is not deployed yet: its battle waits"
    run.until(lambda: run.roles() == {"champ": "champion", "b": "pre_challenger"}, "next head")
    assert run.tick(6) == ["battle_started"]
    assert d.challenger() == "b"


def test_a_dethroned_champion_is_torn_down_and_the_winner_stays_as_champion(
    host: MinerHost,
) -> None:
    d = contest("a")
    run = Run(d, host)
    run.until(lambda: len(run.roles()) == 2, "deployed")
    assert run.tick(4) == ["battle_started"]
    d.score({"a": fixed(1.0)})
    assert run.tick(5) == ["dethroned"]
    run.until(lambda: run.roles() == {"a": "champion"}, "old champion torn down")
    assert host.running() == {"a": "pre_challenger"}  # the same engine, deployed as that


def test_a_failed_deploy_of_the_queue_head_releases_it_bounded_then_unservable(
    host: MinerHost,
) -> None:
    d = contest("a", "b", max_releases=1)
    host.fail_next(model("a"), "port_taken", "exited:1")
    run = Run(d, host, first_retry=5.0)
    run.until(lambda: d.miner("a")["releases"] == 1, "first release")  # type: ignore[index]
    assert run.tick(4) == [], "the head is not deployed: no battle"
    run.clock.advance(5.0)
    run.until(lambda: d.status("a") == "terminated", "second failure terminates")
    assert d.reason("a") == "unservable"
    said = [
        e for e in d.app.events.get(d.app.contest_id) if type(e).__name__ == "ChallengerReleased"
    ]
    assert [e.reason for e in said] == ["deploy_failed:port_taken"]
    run.until(lambda: run.roles().get("b") == "pre_challenger", "the next one moves up")


def test_a_deploy_cut_short_by_closing_the_host_releases_nobody_and_waits_out_nothing(
    host: MinerHost,
) -> None:
    d = contest("a", "b")
    host.fail_next(model("a"), "host_closed")
    run = Run(d, host)
    # No backoff: the next pass deploys it again, as a restarted daemon would.
    run.until(lambda: run.roles().get("a") == "pre_challenger", "deployed on the next pass")
    assert d.miner("a")["releases"] == 0  # type: ignore[index]
    said = [
        e for e in d.app.events.get(d.app.contest_id) if type(e).__name__ == "ChallengerReleased"
    ]
    assert said == []


def test_a_failed_deploy_of_a_later_queue_member_is_only_retried(host: MinerHost) -> None:
    d = contest("a", "b")
    host.fail_next(model("b"), "disk_full")
    run = Run(d, host, first_retry=5.0)
    run.until(lambda: {"champ", "a"} <= set(run.roles()), "champion and head")
    assert "b" not in run.roles() and d.miner("b")["releases"] == 0  # type: ignore[index]
    run.clock.advance(5.0)
    run.until(lambda: "b" in run.roles(), "retried after the backoff")
    assert d.miner("b")["releases"] == 0  # type: ignore[index]


def test_an_unhealthy_challenger_is_torn_down_and_released(host: MinerHost) -> None:
    d = contest("a")
    run = Run(d, host)
    run.until(lambda: len(run.roles()) == 2, "deployed")
    assert run.tick(4) == ["battle_started"]
    run.until(lambda: run.roles().get("a") == "challenger", "promoted")
    host.kill("a")
    run.checks(2)
    assert d.challenger() is None
    [released] = [
        e for e in d.app.events.get(d.app.contest_id) if type(e).__name__ == "ChallengerReleased"
    ]
    assert released.reason.startswith("unhealthy:not_answering")
    assert "a" not in run.roles()
    assert 'throne_health_check_failures_total{role="challenger"} 2.0' in (
        run.metrics.exposition().decode()
    )
    run.clock.advance(10.0)
    run.until(lambda: "a" in run.roles(), "deployed again after the backoff")
    assert run.tick(5) == ["battle_started"]


def test_an_unhealthy_challenger_released_too_often_is_unservable(host: MinerHost) -> None:
    d = contest("a", max_releases=0)
    run = Run(d, host)
    run.until(lambda: len(run.roles()) == 2, "deployed")
    assert run.tick(4) == ["battle_started"]
    host.kill("a")
    run.checks(2)
    assert d.reason("a") == "unservable"


def test_an_unhealthy_champion_is_redeployed(host: MinerHost) -> None:
    d = contest()
    run = Run(d, host)
    run.until(lambda: "champ" in run.roles(), "deployed")
    [first] = [r["deployment_id"] for r in run.hosting.deployed_now()]
    host.kill("champ")
    run.checks(1)
    assert run.hosting.ready("champ", "r1") is False, "one failed check: not ready"
    run.checks(1)
    run.until(lambda: "champ" in run.roles(), "redeployed")
    assert [r["deployment_id"] for r in run.hosting.deployed_now()] != [first]
    assert d.champion() == "champ" and d.miner("champ")["releases"] == 0  # type: ignore[index]


def test_a_champion_that_never_comes_back_abdicates_by_the_missed_pools_rule(
    host: MinerHost,
) -> None:
    d = Driver(small_config(max_champion_missed_pools=2))
    d.join("champ", block=1)
    d.join("a", block=2)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    host.fail_next(model("champ"), *["exited:1"] * 50)
    run = Run(d, host, first_retry=1.0)
    run.until(lambda: "a" in run.roles(), "the head deployed, the champion not")
    assert "champ" not in run.roles()
    # Nobody samples a champion that is not served: pools pass incomplete.
    assert run.tick(102) == ["pool_refreshed"]
    steps = run.tick(202)
    assert d.reason("champ") == "unservable_champion", steps


def test_a_restart_adopts_what_is_wanted_and_removes_the_rest(host: MinerHost) -> None:
    d = contest("a", "b")
    run = Run(d, host)
    run.until(lambda: len(run.roles()) == 3, "deployed")
    before = host.running_ids()
    # While no scheduler runs, "b" is terminated and "a"'s engine dies.
    d.app.invalidate("b", "repo not found or private", 4)
    host.kill("a")
    restarted = Run(d, host)
    restarted.hosting.recover()
    assert restarted.roles() == {"champ": "champion"}
    assert host.running_ids() == before & set(
        r["deployment_id"] for r in restarted.hosting.deployed_now()
    )
    restarted.until(
        lambda: restarted.roles() == {"champ": "champion", "a": "pre_challenger"}, "a redeployed"
    )
    assert len(host.running()) == 2, "no orphan, no slot leaked"


def test_the_sampler_leaves_work_pending_while_its_model_is_not_deployed(
    host: MinerHost,
) -> None:
    import asyncio

    from throne.adapters.envs.in_process import InProcessEnv
    from throne.adapters.inference import AiohttpChatCompletions
    from throne.adapters.storage.responses import InMemoryResponseStore
    from throne.daemon.sampler import Sampler
    from throne.daemon.settings import SamplerSettings
    from throne.ports.model_endpoints import Endpoint

    d = Driver()
    d.join("champ", block=1)
    d.sync()
    assert d.tick(2) == ["pool_refreshed"]
    assert d.tick(3) == ["crowned"]
    host.gate(model("champ"))
    run = Run(d, host)
    run.hosting.reconcile()  # the champion is wanted, its engine loading
    asked: list[str] = []

    class Watched:
        """The hosting's endpoints, counting the lookups (how the test knows the sampler ran)."""

        def resolve(self, m: str, revision: str) -> Endpoint:
            asked.append(m)
            return run.hosting.endpoints.resolve(m, revision)

    before = {(w.env, w.task_id, w.attempt) for w in d.app.pending_work()}
    s = Sampler(
        d.app,
        {"SAT": InProcessEnv(SatEnvironment(), AiohttpChatCompletions())},
        Watched(),
        InMemoryResponseStore(),
        SamplerSettings(concurrency=4, batch_size=2),
        reads=d.reads,
    )

    async def go(until: Callable[[], bool]) -> None:
        import time

        stop = asyncio.Event()
        loop = asyncio.create_task(s.run(stop, poll_seconds=0.02))
        deadline = time.monotonic() + WAIT_SECONDS
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        await loop

    asyncio.run(go(lambda: len(asked) >= 20))
    assert len(asked) >= 20
    assert s.stats.asked == 0 and s.stats.recorded == 0, "nothing started, nothing failed"
    assert {(w.env, w.task_id, w.attempt) for w in d.app.pending_work()} == before
    host.release_gate(model("champ"))
    run.until(lambda: run.hosting.ready("champ", "r1"), "deployed")
    asyncio.run(go(lambda: s.stats.recorded >= 2))
    assert s.stats.by_outcome is not None and s.stats.by_outcome.get("ok", 0) >= 2
    assert "infra_error" not in s.stats.by_outcome


def test_throne_check_reports_the_hosts_own_probes(host: MinerHost) -> None:
    from throne.cli.check import Check, host_checks
    from throne.daemon.settings import settings_from_dict

    settings = settings_from_dict(
        {"hosting": {"host": "local", "local": {"command": "engine {port}"}}}, {"SAT": (0, 1000)}
    )
    assert host_checks(settings, host) == [Check("host: slots", "ok", "slots free 4 of 4")]
    host.slots = 0
    assert host_checks(settings, host) == [Check("host: slots", "fail", "slots free 0 of 0")]

    class Broken(MinerHost):
        def preflight(self):  # type: ignore[no-untyped-def]
            raise OSError("no such box")

    [failed] = host_checks(settings, Broken([SatEnvironment()]))
    assert failed == Check("host (local)", "fail", "OSError: no such box")


def test_whom_the_contest_wants_since_the_last_pass_is_to_be_deployed_not_unknown(
    host: MinerHost,
) -> None:
    """A battle ends between two passes and the next miner heads the queue: its work must wait
    for its engine, not fail as an infra error against it."""
    d = contest("a", "b")
    run = Run(d, host, pre_deploy=0)
    run.until(lambda: set(run.roles()) == {"champ", "a"}, "champion and queue head deployed")
    assert run.tick(4) == ["battle_started"]
    d.score({"a": fixed(0.0)})
    assert run.tick(5) == ["terminated"]
    with pytest.raises(NotDeployed, match="next pass"):
        run.hosting.endpoints.resolve(model("b"), "r1")
    run.until(lambda: "b" in run.roles(), "the new head deployed")
    assert run.hosting.endpoints.resolve(model("b"), "r1").model == model("b")
