"""How often each verdict rule crowns noise, how often it finds a better challenger, and what
a battle costs in challenger samples: a Monte Carlo over the real contest.

Each battle is its own `Contest` aggregate, driven as the daemon drives it: created with the
rule's `ContestConfig`, a champion and a challenger committed through ``observe`` (a chain
snapshot), the pool drawn and the champion crowned by ``tick``, the champion's scores on its
whole pool handed in as `SideScores`, the battle started, then the challenger's scores handed
in, ``--batch`` tasks a tick, in the pool's order (``pool.task_ids[env]``), the envs
interleaved in proportion to their pool sizes, until ``tick`` returns ``dethroned`` or
``terminated``. The bench decides nothing itself: a rule is one entry of `RULES`, a set of
`ContestConfig` fields.

Task model, per env and task: with probability rho both sides share one uniform draw U (the
task's difficulty): the champion scores 1 if U < p, the challenger if U < p + delta; otherwise
each side draws on its own. Every rule sees the same draws (common random numbers).

Figures, per cell (rho, p) and rule, each rate with a 95 % Wilson interval:

- false dethrones: dethroned at delta = 0;
- power: dethroned at delta = +0.02, +0.05, +0.10 in every env;
- terminated at delta = -0.05;
- mix samples: the challenger's scores handed in when the decision fired, on a mix of
  challengers (70 % at -0.05, 20 % equal, 10 % at +0.05), the mean of the three scenarios'
  means weighted 0.7 / 0.2 / 0.1, with a 95 % normal interval;
- the limit: the power of the best fixed-size one-sided paired z-test at the same alpha on as
  many tasks as the pool holds (every task weighing the same, as in the sequential rule's
  aggregate), from the task model's exact per-task variance under delta. (The JSON also has
  ``limit_oracle``: the same test told the variance at delta = 0, which no test knows.)

At rho = 0.5 the bench also scales the sampling counts to find the pool at which the
sequential rule reaches 80 % power at delta = +0.05 (with ``--scan-trials`` battles a step).
It exits 1 when the sequential rule misses a target of the issue, and says which and why.

    .venv/bin/python -m bench.mechanism [--trials 200] [--p 0.3 0.5 0.7] [--rho 0 0.5 0.8]
        [--seed 0] [--sampling-counts 200 100 300] [--jobs 1] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import multiprocessing
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from throne.domain.contest.config import ContestConfig, EnvConfig
from throne.domain.contest.contest import Contest
from throne.domain.contest.samples import SideScores
from throne.domain.contest.state import Step
from throne.domain.queue.snapshot import ChainSnapshot, Commitment, Neuron

#: The rules under test, each a set of `ContestConfig` fields (``env``: `EnvConfig` fields
#: for every env). Margins and tolerances are the defaults (0.03 / 0.02).
RULES: dict[str, dict[str, Any]] = {
    "reference": {"rule": "partial", "min_dominant_envs": 1},
    "strict": {"rule": "strict"},
    "pareto": {"rule": "pareto"},
    "sequential": {"rule": "sequential"},
}
ENV_NAMES = ("SAT", "ABD", "DED")
SAMPLING_COUNTS = (200, 100, 300)
ALPHA = 0.01
#: the worse challenger, the equal one, and the better ones
DELTAS = (-0.05, 0.0, 0.02, 0.05, 0.10)
POWER_DELTAS = (0.02, 0.05, 0.10)
WORSE = -0.05
#: the mix of challengers: (delta, share)
MIX = ((-0.05, 0.7), (0.0, 0.2), (0.05, 0.1))
#: the pool scan: sampling counts times these factors, at this rho and delta
SCAN_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
SCAN_RHO = 0.5
SCAN_DELTA = 0.05
SCAN_POWER = 0.8
Z95 = NormalDist().inv_cdf(0.975)
ID_SPAN = 10**7
CHAMPION, CHALLENGER, REVISION = "5BenchChampion", "5BenchChallenger", "r1"


# ---- statistics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` battles, with the 95 % Wilson score interval [low, high]."""

    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def to_dict(self) -> dict[str, float | int]:
        low, high = self.interval
        return {"k": self.k, "n": self.n, "rate": self.rate, "low": low, "high": high}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``k / n``:
    ``(k + z²/2 ± z·sqrt(k(n-k)/n + z²/4)) / (n + z²)``."""
    if n == 0:
        return (0.0, 1.0)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return (max(0.0, centre - half), min(1.0, centre + half))


def difference_variance(p: float, rho: float, delta: float) -> float:
    """The variance of one task's paired difference (challenger - champion) under the task model:
    ``E[d²] - delta²`` with ``E[d²] = rho·|delta| + (1 - rho)·(p + q - 2pq)``, ``q = p + delta``
    (shared draw: the sides differ only when U falls between p and q; own draws: they differ
    with probability ``p(1-q) + q(1-p)``)."""
    q = p + delta
    second = rho * abs(delta) + (1 - rho) * (p + q - 2 * p * q)
    return second - delta * delta


def limit_power(
    p: float, rho: float, delta: float, pool_sizes: Sequence[int], alpha: float = ALPHA
) -> float:
    """The power of the fixed-size one-sided paired z-test at level ``alpha`` on every task of
    the pool, each task weighing the same (as the sequential rule's overall aggregate; the most
    powerful weighting when delta is the same in every env): ``Phi(delta / se - z_(1-alpha))``
    with ``se² = var / N``, ``var`` the per-task variance at ``delta`` and ``N`` the pool's
    tasks. The test estimates its standard error from the pairs, as any test must that knows
    neither p nor rho, so under ``delta`` it divides by ``se``."""
    se = math.sqrt(difference_variance(p, rho, delta) / sum(pool_sizes))
    return NormalDist().cdf(delta / se - NormalDist().inv_cdf(1 - alpha))


def oracle_limit_power(
    p: float, rho: float, delta: float, pool_sizes: Sequence[int], alpha: float = ALPHA
) -> float:
    """`limit_power` for a test told the variance at delta = 0 (no test knows it):
    ``Phi((delta - z_(1-alpha)·se0) / se1)``. Where outcomes are shared (high rho), a better
    challenger's pairs differ more often than an equal one's, so se1 > se0 and this is higher."""
    n = sum(pool_sizes)
    se0 = math.sqrt(difference_variance(p, rho, 0.0) / n)
    se1 = math.sqrt(difference_variance(p, rho, delta) / n)
    return NormalDist().cdf((delta - NormalDist().inv_cdf(1 - alpha) * se0) / se1)


# ---- the task model -----------------------------------------------------------------------


def draw_pairs(
    rng: random.Random, p: float, rho: float, delta: float, size: int
) -> list[tuple[float, float]]:
    """``size`` tasks in pool order: (champion score, challenger score) each."""
    q = p + delta
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"challenger skill p + delta = {q} is outside [0, 1]")
    out = []
    for _ in range(size):
        if rng.random() < rho:
            u = rng.random()
            out.append((float(u < p), float(u < q)))
        else:
            out.append((float(rng.random() < p), float(rng.random() < q)))
    return out


# ---- one battle on the real contest ------------------------------------------------------


class UnexpectedStep(RuntimeError):
    """The contest did something other than what the bench drives it towards."""


def make_config(rule: Mapping[str, Any], counts: Sequence[int]) -> ContestConfig:
    """The rule's `ContestConfig` on envs with these sampling counts."""
    fields_ = dict(rule)
    per_env = fields_.pop("env", {})
    names = env_names(len(counts))
    envs = tuple(
        EnvConfig(n, c, (0, ID_SPAN), **per_env) for n, c in zip(names, counts, strict=True)
    )
    return ContestConfig(envs=envs, **fields_)


def env_names(count: int) -> tuple[str, ...]:
    return ENV_NAMES[:count] + tuple(f"ENV{i + 1}" for i in range(len(ENV_NAMES), count))


@functools.cache
def interleave(sizes: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    """Every (env, position) of the pool in the order the challenger's scores arrive: each env
    in its pool order, the envs interleaved in proportion to their sizes (position j of an env
    of n tasks comes at (j + 0.5) / n of the way)."""
    items = [(i, env, j) for i, (env, n) in enumerate(sizes) for j in range(n)]
    items.sort(key=lambda it: ((it[2] + 0.5) / sizes[it[0]][1], it[0]))
    return tuple((env, j) for _, env, j in items)


def _snapshot(model_marker: str) -> ChainSnapshot:
    def text(hotkey: str) -> str:
        return json.dumps({"model": f"org/{model_marker}-{hotkey}", "revision": REVISION})

    return ChainSnapshot(
        block=2,
        neurons=(Neuron(1, CHAMPION), Neuron(2, CHALLENGER)),
        commitments=(
            Commitment(CHAMPION, 1, text(CHAMPION)),
            Commitment(CHALLENGER, 2, text(CHALLENGER)),
        ),
    )


def _expect(step: Step | None, wanted: Step) -> None:
    if step is not wanted:
        raise UnexpectedStep(f"expected {wanted}, the contest took {step}")


@dataclass(frozen=True)
class BattleResult:
    #: "dethroned", "terminated" or "undecided" (every score handed in, no decision)
    outcome: str
    #: challenger scores handed in when the decision fired
    samples: int


def battle(
    config: ContestConfig,
    pool_seed: bytes,
    pairs: Mapping[str, Sequence[tuple[float, float]]],
    batch: int,
) -> BattleResult:
    """One battle on a new `Contest`: ``pairs[env][j]`` are the two sides' scores on the j-th
    task of the env's pool order."""
    contest = Contest(config.netuid, config)
    contest.observe(_snapshot(config.model_marker))
    _expect(contest.tick(3, pool_seed), Step.POOL_REFRESHED)
    _expect(contest.tick(4, pool_seed), Step.CROWNED)
    pool = contest.pool
    assert pool is not None
    order = {e.name: pool.task_ids[e.name] for e in config.scoring_envs}
    champion = SideScores(
        CHAMPION,
        REVISION,
        pool.pool,
        {env: {t: pairs[env][j][0] for j, t in enumerate(ids)} for env, ids in order.items()},
        version=1,
    )
    got: dict[str, dict[int, float]] = {env: {} for env in order}
    nothing = SideScores(CHALLENGER, REVISION, pool.pool, got)
    _expect(contest.tick(5, pool_seed, champion, nothing), Step.BATTLE_STARTED)
    stream = interleave(tuple((env, len(ids)) for env, ids in order.items()))
    handed, block = 0, 6
    while True:
        for env, j in stream[handed : handed + batch]:
            got[env][order[env][j]] = pairs[env][j][1]
        handed = min(handed + batch, len(stream))
        challenger = SideScores(CHALLENGER, REVISION, pool.pool, got, version=block)
        step = contest.tick(block, pool_seed, champion, challenger)
        block += 1
        if step is Step.DETHRONED:
            return BattleResult("dethroned", handed)
        if step is Step.TERMINATED:
            return BattleResult("terminated", handed)
        if step is not None:
            raise UnexpectedStep(f"the battle took {step}")
        if handed == len(stream):
            return BattleResult("undecided", handed)


# ---- the experiment ----------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    trials: int = 200
    ps: tuple[float, ...] = (0.3, 0.5, 0.7)
    rhos: tuple[float, ...] = (0.0, 0.5, 0.8)
    seed: int = 0
    counts: tuple[int, ...] = SAMPLING_COUNTS
    #: challenger scores handed in per tick, across envs
    batch: int = 20
    jobs: int = 1
    #: battles per step of the pool scan; 0 skips it
    scan_trials: int = 100


@dataclass
class Tally:
    """One rule's battles in one scenario."""

    dethroned: int = 0
    terminated: int = 0
    undecided: int = 0
    samples: list[int] = field(default_factory=list)

    def add(self, result: BattleResult) -> None:
        if result.outcome == "dethroned":
            self.dethroned += 1
        elif result.outcome == "terminated":
            self.terminated += 1
        else:
            self.undecided += 1
        self.samples.append(result.samples)

    @property
    def n(self) -> int:
        return len(self.samples)

    def mean_and_variance(self) -> tuple[float, float]:
        """The mean samples per battle and the variance of that mean."""
        n = self.n
        mean = math.fsum(self.samples) / n
        if n < 2:
            return mean, 0.0
        var = math.fsum((s - mean) ** 2 for s in self.samples) / (n - 1)
        return mean, var / n


def usable_rules(
    rules: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The rules this build of the domain can express, and a note for each it cannot."""
    ok: dict[str, dict[str, Any]] = {}
    notes = []
    for name, rule in rules.items():
        try:
            make_config(rule, SAMPLING_COUNTS)
        except (TypeError, ValueError) as e:
            notes.append(
                f"rule {name!r} left out: this build's ContestConfig cannot express it ({e})"
            )
            continue
        ok[name] = dict(rule)
    return ok, notes


@dataclass(frozen=True)
class Unit:
    """One scenario of one cell: every rule's battles on the same draws."""

    rho: float
    p: float
    delta: float
    trials: int
    seed: int
    counts: tuple[int, ...]
    batch: int
    rules: Mapping[str, Mapping[str, Any]]


def run_unit(unit: Unit) -> dict[str, Tally]:
    """``unit.trials`` battles for each rule; trial i draws the same scores for every rule."""
    configs = {name: make_config(fields_, unit.counts) for name, fields_ in unit.rules.items()}
    sizes = {e.name: e.pool_size for e in make_config({}, unit.counts).scoring_envs}
    tallies = {name: Tally() for name in configs}
    for trial in range(unit.trials):
        tag = f"{unit.seed}/{unit.rho}/{unit.p}/{unit.delta}/{unit.counts}/{trial}"
        rng = random.Random(tag)
        pairs = {env: draw_pairs(rng, unit.p, unit.rho, unit.delta, n) for env, n in sizes.items()}
        for name, config in configs.items():
            tallies[name].add(battle(config, tag.encode(), pairs, unit.batch))
    return tallies


def parallel_map(fn: Any, items: Sequence[Any], jobs: int) -> list[Any]:
    """``[fn(x) for x in items]``, over ``jobs`` processes; the order (and so every figure)
    does not depend on ``jobs``."""
    if jobs <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    # Spawned, not forked: a fork of a process that runs threads (a test session, a daemon's
    # tools) can copy a lock some thread holds, and the child then waits on it forever.
    with multiprocessing.get_context("spawn").Pool(min(jobs, len(items))) as pool:
        return pool.map(fn, items, chunksize=1)


def key(delta: float) -> str:
    return f"{delta:+.2f}"


def cell_report(
    rho: float, p: float, counts: Sequence[int], tallies: Mapping[float, Mapping[str, Tally]]
) -> dict[str, Any]:
    """One cell's figures, JSON-able."""
    sizes = [e.pool_size for e in make_config({}, counts).scoring_envs]
    rules: dict[str, Any] = {}
    for name in tallies[0.0]:
        by = {d: tallies[d][name] for d in DELTAS}
        mix_mean = math.fsum(w * by[d].mean_and_variance()[0] for d, w in MIX)
        mix_se = math.sqrt(math.fsum(w * w * by[d].mean_and_variance()[1] for d, w in MIX))
        rules[name] = {
            "false_dethrone": Rate(by[0.0].dethroned, by[0.0].n).to_dict(),
            "power": {key(d): Rate(by[d].dethroned, by[d].n).to_dict() for d in POWER_DELTAS},
            "terminated_worse": Rate(by[WORSE].terminated, by[WORSE].n).to_dict(),
            "mix_samples": {
                "mean": mix_mean,
                "low": mix_mean - Z95 * mix_se,
                "high": mix_mean + Z95 * mix_se,
            },
            "mean_samples": {key(d): by[d].mean_and_variance()[0] for d in DELTAS},
            "undecided": sum(t.undecided for t in by.values()),
        }
    return {
        "rho": rho,
        "p": p,
        "pool_sizes": sizes,
        "limit": {key(d): limit_power(p, rho, d, sizes) for d in POWER_DELTAS},
        "limit_oracle": {key(d): oracle_limit_power(p, rho, d, sizes) for d in POWER_DELTAS},
        "rules": rules,
    }


def scaled(counts: Sequence[int], factor: float) -> tuple[int, ...]:
    return tuple(max(1, round(c * factor)) for c in counts)


@dataclass(frozen=True)
class ScanJob:
    p: float
    settings: Settings
    rule: Mapping[str, Any]


def scan_pool(job: ScanJob) -> dict[str, Any]:
    """The smallest of `SCAN_FACTORS` whose scaled sampling counts give the rule 80 % power at
    rho = 0.5 and delta = +0.05, walking from x1 up (or down while it still holds). The batch
    scales with the pool, which a prefix-based rule's decision does not depend on."""
    s = job.settings
    steps: dict[int, dict[str, Any]] = {}

    def power(i: int) -> float:
        counts = scaled(s.counts, SCAN_FACTORS[i])
        unit = Unit(
            SCAN_RHO,
            job.p,
            SCAN_DELTA,
            s.scan_trials,
            s.seed,
            counts,
            max(1, round(s.batch * SCAN_FACTORS[i])),
            {"rule": job.rule},
        )
        tally = run_unit(unit)["rule"]
        rate = Rate(tally.dethroned, tally.n)
        steps[i] = {
            "factor": SCAN_FACTORS[i],
            "counts": list(counts),
            "pool": sum(e.pool_size for e in make_config({}, counts).scoring_envs),
            "power": rate.to_dict(),
        }
        return rate.rate

    i = SCAN_FACTORS.index(1.0)
    found: int | None = None
    if power(i) >= SCAN_POWER:
        found = i
        while found > 0 and power(found - 1) >= SCAN_POWER:
            found -= 1
    else:
        while i + 1 < len(SCAN_FACTORS):
            i += 1
            if power(i) >= SCAN_POWER:
                found = i
                break
    return {
        "p": job.p,
        "steps": [steps[k] for k in sorted(steps)],
        "at_80": None if found is None else steps[found],
    }


def measure(settings: Settings, rules: Mapping[str, Mapping[str, Any]] = RULES) -> dict[str, Any]:
    """Every figure of the bench, JSON-able (without the targets' verdict: `check_targets`)."""
    started = time.perf_counter()
    usable, notes = usable_rules(rules)
    if not usable:
        raise SystemExit("no rule of the table can be expressed by this build's ContestConfig")
    cells = [(rho, p) for rho in settings.rhos for p in settings.ps]
    units = [
        Unit(rho, p, d, settings.trials, settings.seed, settings.counts, settings.batch, usable)
        for rho, p in cells
        for d in DELTAS
    ]
    results = iter(parallel_map(run_unit, units, settings.jobs))
    report_cells = []
    for rho, p in cells:
        tallies = {d: next(results) for d in DELTAS}
        report_cells.append(cell_report(rho, p, settings.counts, tallies))
    scan = None
    if settings.scan_trials > 0 and "sequential" in usable:
        jobs = [ScanJob(p, settings, usable["sequential"]) for p in settings.ps]
        scan = {
            "rho": SCAN_RHO,
            "delta": SCAN_DELTA,
            "trials": settings.scan_trials,
            "by_p": parallel_map(scan_pool, jobs, settings.jobs),
        }
    elif settings.scan_trials > 0:
        notes.append("pool scan skipped: no sequential rule in this build")
    return {
        "settings": dataclasses.asdict(settings),
        "alpha": ALPHA,
        "rules": {n: make_config(f, settings.counts).to_dict() for n, f in usable.items()},
        "notes": notes,
        "cells": report_cells,
        "scan": scan,
        "seconds": time.perf_counter() - started,
    }


# ---- the targets -------------------------------------------------------------------------

CRITERION = (
    "a target is missed when the 95 % interval lies wholly on the wrong side of it "
    "(false dethrones: the Wilson lower bound above alpha; power: the Wilson upper bound below "
    "the bound; mix samples: the interval's lower end above 0.5 x the reference rule's mean); "
    "marginal when only the point estimate does"
)


def check_targets(
    report: Mapping[str, Any], rule: str = "sequential", reference: str = "reference"
) -> dict[str, Any]:
    """The issue's targets for ``rule`` in every cell of ``report`` (see `CRITERION`)."""
    missed: list[str] = []
    marginal: list[str] = []

    def judge(ok_point: bool, ok_interval: bool, what: str) -> None:
        if not ok_interval:
            missed.append(what)
        elif not ok_point:
            marginal.append(what)

    alpha = report["alpha"]
    for cell in report["cells"]:
        where = f"rho={cell['rho']} p={cell['p']}"
        figures = cell["rules"].get(rule)
        if figures is None:
            missed.append(f"{where}: no {rule} rule in this build, so no target can be met")
            continue
        fd = figures["false_dethrone"]
        judge(
            fd["rate"] <= alpha,
            fd["low"] <= alpha,
            f"{where}: false dethrones {fd['rate']:.3f} [{fd['low']:.3f}, {fd['high']:.3f}] "
            f"> alpha {alpha}",
        )
        power = figures["power"][key(SCAN_DELTA)]
        limit = cell["limit"][key(SCAN_DELTA)]
        judge(
            power["rate"] >= limit - 0.10,
            power["high"] >= limit - 0.10,
            f"{where}: power at +0.05 {power['rate']:.3f} [{power['low']:.3f}, "
            f"{power['high']:.3f}] is more than 0.10 below the limit {limit:.3f}",
        )
        if limit >= 0.9:
            judge(
                power["rate"] >= 0.8,
                power["high"] >= 0.8,
                f"{where}: the limit is {limit:.3f} >= 0.9 but power at +0.05 is "
                f"{power['rate']:.3f} [{power['low']:.3f}, {power['high']:.3f}] < 0.8",
            )
        ref = cell["rules"].get(reference)
        if ref is None:
            missed.append(f"{where}: no {reference} rule to compare the mix samples with")
            continue
        mine, theirs = figures["mix_samples"], ref["mix_samples"]["mean"]
        judge(
            mine["mean"] <= 0.5 * theirs,
            mine["low"] <= 0.5 * theirs,
            f"{where}: mix samples {mine['mean']:.0f} [{mine['low']:.0f}, {mine['high']:.0f}] "
            f"> 0.5 x the {reference} rule's {theirs:.0f}",
        )
    return {"rule": rule, "criterion": CRITERION, "missed": missed, "marginal": marginal}


# ---- the table ---------------------------------------------------------------------------


def _rate(r: Mapping[str, float]) -> str:
    return f"{r['rate']:.3f} [{r['low']:.3f},{r['high']:.3f}]"


def format_report(report: Mapping[str, Any], targets: Mapping[str, Any]) -> str:
    s = report["settings"]
    counts = "/".join(str(c) for c in s["counts"])
    lines = [
        f"mechanism bench: {s['trials']} battles per rule, scenario and cell; sampling counts "
        f"{counts}; alpha {report['alpha']}; seed {s['seed']}; {report['seconds']:.0f} s",
        "rates with 95 % Wilson intervals; mix samples: challenger scores handed in when the "
        "decision fired, mean over 70 % at -0.05, 20 % at 0, 10 % at +0.05, with a 95 % interval",
    ]
    lines += [f"note: {n}" for n in report["notes"]]
    head = (
        f"{'rule':<12} {'false dethrone 0':<21} {'power +0.02':<21} {'power +0.05':<21} "
        f"{'power +0.10':<21} {'terminated -0.05':<21} mix samples"
    )
    for cell in report["cells"]:
        sizes = " + ".join(str(n) for n in cell["pool_sizes"])
        lines += ["", f"rho={cell['rho']:.1f} p={cell['p']:.1f}: pool {sizes} tasks", head]
        for name, f in cell["rules"].items():
            mix = f["mix_samples"]
            row = (
                [_rate(f["false_dethrone"])]
                + [_rate(f["power"][key(d)]) for d in POWER_DELTAS]
                + [_rate(f["terminated_worse"])]
            )
            tail = f"{mix['mean']:.0f} [{mix['low']:.0f},{mix['high']:.0f}]"
            if f["undecided"]:
                tail += f"  ({f['undecided']} undecided)"
            lines.append(f"{name:<12} " + " ".join(f"{c:<21}" for c in row) + " " + tail)
        limits = " ".join(f"{cell['limit'][key(d)]:<21.3f}" for d in POWER_DELTAS)
        lines.append(f"{'limit':<12} {'':<21} {limits}".rstrip())
    scan = report["scan"]
    if scan is not None:
        lines += [
            "",
            f"pool for {SCAN_POWER:.0%} power of the sequential rule at rho={scan['rho']}, "
            f"delta=+{scan['delta']} ({scan['trials']} battles a step, fewer than above):",
        ]
        for by in scan["by_p"]:
            steps = "; ".join(
                f"x{st['factor']:g} {st['pool']} tasks {st['power']['rate']:.2f}"
                for st in by["steps"]
            )
            at = by["at_80"]
            end = (
                f"none up to x{SCAN_FACTORS[-1]:g}"
                if at is None
                else f"x{at['factor']:g}: {at['pool']} tasks (sampling counts "
                f"{'/'.join(str(c) for c in at['counts'])})"
            )
            lines.append(f"  p={by['p']:.1f}: {steps} -> {end}")
    lines += ["", f"targets of the {targets['rule']} rule: {targets['criterion']}"]
    lines += [f"  MISSED: {m}" for m in targets["missed"]]
    lines += [f"  marginal: {m}" for m in targets["marginal"]]
    if not targets["missed"]:
        lines.append("  no target missed" + (" outright" if targets["marginal"] else ""))
    if targets["marginal"]:
        lines.append(
            f"  {len(targets['marginal'])} marginal: the point estimate is on the wrong side but "
            "the interval reaches the target; more --trials settle them"
        )
    return "\n".join(lines)


# ---- the command -------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> tuple[Settings, bool]:
    d = Settings()
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog=(
            f"The default run ({d.trials} battles per rule, scenario and cell; 9 cells; a pool "
            f"scan of {d.scan_trials} battles a step) takes a few minutes on one core."
        ),
    )
    ap.add_argument(
        "--trials", type=int, default=d.trials, help="battles per rule, scenario and cell"
    )
    ap.add_argument("--p", type=float, nargs="+", default=list(d.ps), help="champion skills")
    ap.add_argument("--rho", type=float, nargs="+", default=list(d.rhos), help="shared difficulty")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument(
        "--sampling-counts",
        type=int,
        nargs="+",
        default=list(d.counts),
        help="per env: SAT ABD DED",
    )
    ap.add_argument(
        "--batch", type=int, default=d.batch, help="challenger scores handed in per tick, all envs"
    )
    ap.add_argument("--scan-trials", type=int, default=d.scan_trials, help="0 skips the pool scan")
    ap.add_argument("--jobs", type=int, default=d.jobs, help="processes (figures do not change)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)
    return Settings(
        trials=a.trials,
        ps=tuple(a.p),
        rhos=tuple(a.rho),
        seed=a.seed,
        counts=tuple(a.sampling_counts),
        batch=a.batch,
        jobs=a.jobs,
        scan_trials=a.scan_trials,
    ), bool(a.json)


def main(argv: Sequence[str] | None = None) -> int:
    settings, as_json = parse(argv)
    report = measure(settings)
    targets = check_targets(report)
    if as_json:
        print(json.dumps({**report, "targets": targets}, indent=2))
    else:
        print(format_report(report, targets))
    return 1 if targets["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
