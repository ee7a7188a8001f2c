"""The GPU's idle time between battles, with pre-deployment and without, measured in the same run.

A real daemon (`throne.app.build` on a local chain and a SQLite log) hosts its miners' models
through a real `LocalEngineHost`. Each engine is a stand-in that takes L seconds to become
ready: ``sh -c "sleep L; exec throne miner serve ..."``, the project's local miner server
(OpenAI-compatible, answering at once) behind a load time, as a real engine loads its weights.
The champion is strong and stays; every challenger is weak and is terminated after a short
battle, so the battles follow one another as fast as the daemon decides them.

Idle is, for each battle after the first, the time from the previous battle's decision (its
``Terminated`` or ``Dethroned`` event) to the new battle's first challenger sample, taken when
that sample is asked (the sampler's ``on_sample`` hook gives its time and latency: the time
less the latency), since from then on the engine works: the time the challenger's slot serves
nothing the contest can use. The battle's start (``BattleStarted``: both sides ready) and the
first sample's scoring (one answer's latency later) are shown beside it.

Without pre-deployment (``pre_deploy = 0``) the next challenger is deployed only once the
previous battle is decided, so idle is about L; with it (``pre_deploy = 2``) the next
challengers load during the battle before theirs, and the goal is idle <= 0.1 x L. The ratio
is with over without, for each L. The floor of idle with pre-deployment is the daemon's own
cadence: a battle starts at the first tick after the decision (a new block, then half a poll)
and its first sample is asked at the sampler's next fill (a poll, and the reads a fill makes),
so ``--poll`` is shown; ``ready`` is the deploy-to-ready time the daemon saw (L, and the
stand-in's own start, seconds on a loaded machine). The ``infra`` samples are the loser's
requests in flight when it was terminated early and torn down: recorded after the decision,
they count for nothing.

    .venv/bin/python -m bench.hosting [--ready-seconds 3 6] [--battles 4] [--poll 0.1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from throne.adapters.chain.local import LocalChain
from throne.adapters.hosting.local_engine import LocalEngineHost
from throne.adapters.storage.database import parse_database_url
from throne.app import build
from throne.application import ThroneApplication
from throne.daemon.settings import settings_from_dict
from throne.domain.contest.contest import Contest
from throne.domain.contest.samples import Sample
from throne.envs.sat import SatEnvironment

NETUID = 120
THRONE = str(Path(sys.executable).with_name("throne"))
CHAMPION_SKILL = 0.95
#: a little weaker: terminated, but only late in its battle (no early regression to cut it short)
CHALLENGER_SKILL = 0.9
SAMPLES_PER_BATTLE = 40
CONCURRENCY = 8
#: the daemon's bound on one case: L per battle, the sampling, and the machine's load
CASE_SECONDS_PER_BATTLE = 90.0


@dataclass
class Gap:
    """One battle's start after the previous decision, in seconds from that decision."""

    challenger: str
    started: float
    #: the first challenger request's send (its sample's time less its latency)
    first_asked: float
    first_sample: float


@dataclass
class Case:
    ready_seconds: float
    pre_deploy: int
    gaps: list[Gap] = field(default_factory=list)
    decided: int = 0
    deploys: int = 0
    #: the median deploy-to-ready seconds the daemon saw: L and the engine's own start
    ready_s: float = 0.0
    infra_errors: int = 0
    wall: float = 0.0

    def idle(self) -> list[float]:
        return [g.first_asked for g in self.gaps]


def hotkey(i: int) -> str:
    return "5BenchChampion" if i == 0 else f"5BenchChallenger{i:02d}"


def model(i: int) -> str:
    return f"bench/affine-{hotkey(i)}"


def engine_command(ready_seconds: float, latency_ms: float, skills: Path) -> str:
    """A stand-in engine that loads for ``ready_seconds``, then serves its miner's model at
    the skill the skills file gives its hotkey, each answer after ``latency_ms``."""
    serve = (
        f"exec {shlex.quote(THRONE)} miner serve --host {{host}} --port {{port}} "
        f"--name {{model}} --revision {{revision}} --latency-ms {latency_ms:g} "
        f'--skill "$(sed -n s/^{{hotkey}}=//p {shlex.quote(str(skills))})"'
    )
    return shlex.join(["sh", "-c", f"sleep {ready_seconds:g}; {serve}"])


def stamp(t: datetime | float) -> float:
    return t if isinstance(t, float) else t.timestamp()


def run_case(
    root: Path,
    ready_seconds: float,
    pre_deploy: int,
    battles: int,
    poll: float,
    battle_seconds: float,
) -> Case:
    """A daemon through ``battles`` battles, one champion and a challenger per battle, each
    battle about ``battle_seconds`` of sampling."""
    root.mkdir(parents=True)
    miners = battles + 1
    chain = LocalChain.init(root / "chain.db", netuid=NETUID, block_time=0.1)
    chain.register(NETUID, "validator")
    for i in range(miners):
        chain.register(NETUID, hotkey(i))
        chain.as_signer(hotkey(i)).commit(NETUID, json.dumps({"model": model(i), "revision": "r1"}))
        chain.advance(2)
    chain.close()
    skills = root / "skills"
    skills.write_text(
        "".join(
            f"{hotkey(i)}={CHAMPION_SKILL if i == 0 else CHALLENGER_SKILL}\n" for i in range(miners)
        )
    )
    envs = {"sat": SatEnvironment()}
    db_url = f"sqlite:///{root / 'throne.db'}"
    raw: dict[str, Any] = {
        "validator": {
            "db": db_url,
            "chain_db": str(root / "chain.db"),
            "hotkey": "validator",
            "data_dir": str(root / "data"),
            "poll_seconds": poll,
            "weights_interval_blocks": 20,
        },
        "contest": {"refresh_blocks": 1_000_000, "battle_deadline_blocks": 100_000},
        "envs": {"sat": {"sampling_count": SAMPLES_PER_BATTLE}},
        "sampler": {"concurrency": CONCURRENCY, "batch_size": 4, "retries": 0},
        "hosting": {"pre_deploy": pre_deploy, "ready_timeout": 60.0 + ready_seconds},
    }
    settings = settings_from_dict(raw, {n: e.id_range for n, e in envs.items()})
    host = LocalEngineHost(
        engine_command(
            ready_seconds, 1000 * battle_seconds * CONCURRENCY / SAMPLES_PER_BATTLE, skills
        ),
        # champion, challenger and two pre-deployed: room for pre_deploy = 2
        slots=("0", "1", "2", "3"),
        ports=range(31000, 31200),
        ready_timeout=60.0 + ready_seconds,
        state_dir=root / "data" / "hosting" / "local",
        log_dir=root / "data" / "hosting" / "logs",
        stop_grace=5.0,
    )
    services = build(settings, pool_secret=bytes(32), host=host, environments=envs)
    assert services.hosting is not None
    hosting = services.hosting
    case = Case(ready_seconds, pre_deploy)
    samples: list[tuple[float, float, str, str]] = []
    lock = threading.Lock()
    observed = services.sampler._on_sample

    def on_sample(sample: Sample, latency: float) -> None:
        with lock:
            samples.append((time.time(), latency, sample.hotkey, sample.outcome))
            if sample.outcome == "infra_error":
                case.infra_errors += 1
        if observed is not None:
            observed(sample, latency)

    # The hook the daemon's metrics use: every sample as it is scored, with its time.
    services.sampler._on_sample = on_sample

    def events() -> list[Any]:
        with ThroneApplication(
            settings.contest, env=parse_database_url(db_url).eventsourcing_env()
        ) as app:
            return list(app.events.get(app.contest_id))

    def decisions(evs: list[Any]) -> int:
        return sum(isinstance(e, (Contest.Dethroned, Contest.Terminated)) for e in evs)

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(services.daemon.run(stop))
        deadline = time.monotonic() + CASE_SECONDS_PER_BATTLE * battles
        while time.monotonic() < deadline and not task.done():
            if decisions(await asyncio.to_thread(events)) >= battles:
                break
            await asyncio.sleep(0.25)
        stop.set()
        await task
        await services.client.aclose()

    began = time.monotonic()
    try:
        asyncio.run(run())
    finally:
        hosting.join(timeout=30.0)
        for d in host.deployments():
            host.teardown(d)
        services.close_sync()
    case.wall = time.monotonic() - began
    evs = events()
    case.decided = decisions(evs)
    shown = hosting.deployments()
    case.deploys = len(shown)
    case.ready_s = statistics.median(d["ready_s"] for d in shown) if shown else float("nan")
    decided_at: float | None = None
    for e in evs:
        if isinstance(e, (Contest.Dethroned, Contest.Terminated)):
            if isinstance(e, Contest.Terminated) and e.reason.startswith("dethroned_by:"):
                continue  # the champion's end, recorded with the Dethroned of the same battle
            decided_at = stamp(e.timestamp)
        elif isinstance(e, Contest.BattleStarted) and decided_at is not None:
            theirs = [(t, lat) for t, lat, h, o in samples if h == e.hotkey and o != "infra_error"]
            if theirs:
                first, latency = min(theirs)
                case.gaps.append(
                    Gap(
                        e.hotkey,
                        stamp(e.timestamp) - decided_at,
                        first - latency - decided_at,
                        first - decided_at,
                    )
                )
            decided_at = None
    return case


def summary(case: Case) -> dict[str, float]:
    idle = case.idle()
    if not idle:
        nan = float("nan")
        return {"median": nan, "max": nan, "start": nan, "scored": nan}
    return {
        "median": statistics.median(idle),
        "max": max(idle),
        "start": statistics.median(g.started for g in case.gaps),
        "scored": statistics.median(g.first_sample for g in case.gaps),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--ready-seconds",
        type=float,
        nargs="+",
        default=[3.0, 6.0],
        help="L: seconds each stand-in engine loads before it serves (default 3 6)",
    )
    p.add_argument(
        "--battles", type=int, default=4, help="battles per case (idle: all but the first)"
    )
    p.add_argument("--poll", type=float, default=0.1, help="the daemon's poll_seconds")
    p.add_argument(
        "--battle-seconds",
        type=float,
        help="sampling time of one battle (default 2 x L + 5: longer than a load, as real "
        "battles are; a battle shorter than a load leaves nothing to pre-deploy into)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args()
    # The daemon's own log would drown the table: warnings and errors only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.battles < 2:
        p.error("--battles must be at least 2 (idle is measured between battles)")
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="throne-bench-hosting-") as tmp:
        for ready in args.ready_seconds:
            cases = {}
            for pre_deploy in (0, 2):
                root = Path(tmp) / f"L{ready:g}-k{pre_deploy}"
                battle = args.battle_seconds or 2 * ready + 5
                cases[pre_deploy] = run_case(
                    root, ready, pre_deploy, args.battles, args.poll, battle
                )
            without, with_ = summary(cases[0]), summary(cases[2])
            row = {
                "ready_seconds": ready,
                "poll_seconds": args.poll,
                "cases": [
                    {
                        **asdict(c),
                        **summary(c),
                        "idle_over_l": summary(c)["median"] / ready,
                        "idle_over_ready": summary(c)["median"] / c.ready_s,
                    }
                    for c in cases.values()
                ],
                "ratio_with_over_without": with_["median"] / without["median"],
                "goal_met": with_["max"] <= 0.1 * ready,
            }
            out.append(row)
            if not args.json:
                print_table(row, cases)
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


def print_table(row: dict[str, Any], cases: dict[int, Case]) -> None:
    ready = row["ready_seconds"]
    print(f"\nL = {ready:g} s (engine ready after L; daemon poll {row['poll_seconds']:g} s)")
    print(
        f"{'pre_deploy':>10} {'battles':>7} {'gaps':>4} {'to start':>9} "
        f"{'idle med':>9} {'idle max':>9} {'idle/L':>7} {'ready':>6} {'idle/ready':>10} "
        f"{'scored':>8} {'infra':>5}"
    )
    for k, c in cases.items():
        s = summary(c)
        print(
            f"{k:>10} {c.decided:>7} {len(c.gaps):>4} {s['start']:>8.2f}s "
            f"{s['median']:>8.2f}s {s['max']:>8.2f}s {s['median'] / ready:>7.3f} "
            f"{c.ready_s:>5.1f}s {s['median'] / c.ready_s:>10.3f} {s['scored']:>7.2f}s "
            f"{c.infra_errors:>5}"
        )
    verdict = "met" if row["goal_met"] else "NOT met"
    print(
        f"with/without (median idle): {row['ratio_with_over_without']:.3f}; "
        f"goal idle max <= 0.1 x L = {0.1 * ready:.2f} s: {verdict}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
