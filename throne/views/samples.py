"""`samples`: what the recent samples of the current pool say, per env and per miner — score
distributions, latency percentiles and outcome counts (`throne.projections.samples` keeps at
most its ``per_env`` newest samples of each env; no task id is among them).

Scores are those of ``ok`` and ``model_error`` samples (an ``infra_error`` is no score);
latencies and outcomes are of every sample. Percentiles are nearest-rank: each is a latency one
sample had. Histograms hold ``edges`` (one more than ``counts``); a value on an inner edge
falls in the bin above it, the highest value in the last bin.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from throne.domain.queue.miners import MinerRecord
from throne.projections.read_side import ReadSide

OUTCOMES = ("ok", "model_error", "infra_error")
PERCENTILES = (50, 90, 99)
SCORE_BINS = 10
LATENCY_BINS = 12


def samples(reads: ReadSide) -> dict[str, Any]:
    """Every env's summary, and every miner's that has samples, by hotkey."""
    with reads.read() as r:
        pool, rows = r.recent_samples()
        s = r.standings()
        cfg = r.config
    uids = _uids(s.miners)
    envs = [e.name for e in cfg.envs]
    by_env: dict[str, list[dict[str, Any]]] = {env: [] for env in envs}
    by_miner: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_env.setdefault(row["env"], []).append(row)
        by_miner.setdefault(row["hotkey"], []).append(row)
    return {
        "netuid": reads.netuid,
        "pool": pool,
        "per_env_limit": reads.samples_projection.per_env,
        "envs": {env: _env_summary(env, kept, uids) for env, kept in by_env.items()},
        "miners": {hk: miner_summary(hk, kept, uids) for hk, kept in by_miner.items()},
    }


def _uids(miners: Iterable[MinerRecord]) -> dict[str, int | None]:
    return {m.hotkey: m.uid for m in miners}


def _env_summary(
    env: str, rows: Sequence[Mapping[str, Any]], uids: Mapping[str, int | None]
) -> dict[str, Any]:
    scores = [float(r["score"]) for r in rows if r["outcome"] != "infra_error"]
    edges = score_edges(scores)
    miners: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        miners.setdefault((row["hotkey"], row["revision"]), []).append(row)
    return {
        "env": env,
        **_stats(rows),
        "score_edges": edges,
        "miners": [
            {
                "hotkey": hk,
                "revision": rev,
                "uid": uids.get(hk),
                **_stats(kept),
                "score_counts": histogram(
                    [float(r["score"]) for r in kept if r["outcome"] != "infra_error"], edges
                ),
            }
            for (hk, rev), kept in sorted(miners.items(), key=lambda kv: -len(kv[1]))
        ],
    }


def miner_summary(
    hotkey: str, rows: Sequence[Mapping[str, Any]], uids: Mapping[str, int | None]
) -> dict[str, Any]:
    """One miner's samples (``rows``, any envs): its latency histogram and, per env, stats."""
    latencies = [int(r["latency_ms"]) for r in rows]
    edges = latency_edges(latencies)
    per_env: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        per_env.setdefault(row["env"], []).append(row)
    return {
        "hotkey": hotkey,
        "uid": uids.get(hotkey),
        **_stats(rows),
        "latency_histogram": {"edges": edges, "counts": histogram(latencies, edges)},
        "envs": {env: _stats(kept) for env, kept in per_env.items()},
    }


def _stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    scores = [float(r["score"]) for r in rows if r["outcome"] != "infra_error"]
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for r in rows:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    return {
        "samples": len(rows),
        "scored": len(scores),
        "mean_score": math.fsum(scores) / len(scores) if scores else None,
        "outcomes": outcomes,
        "latency_ms": percentiles([int(r["latency_ms"]) for r in rows]),
    }


def percentiles(values: Sequence[int]) -> dict[str, int | None]:
    """Nearest-rank percentiles and the maximum (all None without values)."""
    ordered = sorted(values)
    out: dict[str, int | None] = {}
    for p in PERCENTILES:
        out[f"p{p}"] = ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else None
    out["max"] = ordered[-1] if ordered else None
    return out


def score_edges(scores: Sequence[float], bins: int = SCORE_BINS) -> list[float]:
    """Equal bins over [0, 1], widened to the scores of an env whose scores leave it."""
    low = min([0.0, *scores])
    high = max([1.0, *scores])
    return [low + (high - low) * i / bins for i in range(bins + 1)]


def latency_edges(latencies: Sequence[int], bins: int = LATENCY_BINS) -> list[float]:
    """Equal bins from 0 to the slowest sample (to 1 ms when there is none)."""
    high = float(max([1, *latencies]))
    return [high * i / bins for i in range(bins + 1)]


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """How many ``values`` fall in each bin of ``edges`` (those outside go to the end bins)."""
    counts = [0] * (len(edges) - 1)
    if not counts:
        return counts
    for v in values:
        i = bisect.bisect_right(edges, v) - 1
        counts[min(max(i, 0), len(counts) - 1)] += 1
    return counts
