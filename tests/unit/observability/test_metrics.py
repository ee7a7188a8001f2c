"""Prometheus exposition of the validator's metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from throne.observability.metrics import ThroneMetrics


def _samples(metrics: ThroneMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_samples_are_counted_by_env_and_outcome_with_their_latency() -> None:
    m = ThroneMetrics()
    m.observe_sample("SAT", "ok", 0.3)
    m.observe_sample("SAT", "ok", 4.0)
    m.observe_sample("SAT", "infra_error")
    s = _samples(m)
    assert s[("throne_samples_scored_total", (("env", "SAT"), ("outcome", "ok")))] == 2
    assert s[("throne_samples_scored_total", (("env", "SAT"), ("outcome", "infra_error")))] == 1
    assert s[("throne_inference_latency_seconds_count", (("env", "SAT"),))] == 2
    assert s[("throne_inference_latency_seconds_sum", (("env", "SAT"),))] == 4.3
    assert s[("throne_inference_latency_seconds_bucket", (("env", "SAT"), ("le", "0.5")))] == 1


def test_ticks_count_decided_battles_by_result_and_ignore_other_steps() -> None:
    m = ThroneMetrics()
    m.observe_tick(10, ["pool_refreshed"])
    m.observe_tick(11, ["dethroned", "battle_started"])
    m.observe_tick(12, ["terminated", "battle_started"])
    m.observe_tick(13, ["terminated"])
    s = _samples(m)
    assert s[("throne_battles_decided_total", (("result", "dethroned"),))] == 1
    assert s[("throne_battles_decided_total", (("result", "terminated"),))] == 2
    assert s[("throne_last_tick_block", ())] == 13
    assert s[("throne_tick_seconds_count", ())] == 0  # none of them timed


def test_timed_ticks_are_a_histogram_of_their_durations() -> None:
    m = ThroneMetrics()
    m.observe_tick(10, [], seconds=0.003)
    m.observe_tick(11, ["battle_started"], seconds=0.2)
    s = _samples(m)
    assert s[("throne_tick_seconds_count", ())] == 2
    assert s[("throne_tick_seconds_sum", ())] == 0.203
    assert s[("throne_tick_seconds_bucket", (("le", "0.005"),))] == 1
    assert s[("throne_tick_seconds_bucket", (("le", "0.25"),))] == 2


def test_champion_weights_failures_and_projection_lag_are_exposed() -> None:
    m = ThroneMetrics()
    assert _samples(m)[("throne_champion_uid", ())] == -1
    m.observe_champion(7)
    m.observe_weights(ok=True)
    m.observe_weights(ok=False)
    m.observe_weights(ok=False)
    m.observe_failure("inference")
    m.observe_projection_lag("standings", 42)
    s = _samples(m)
    assert s[("throne_champion_uid", ())] == 7
    assert s[("throne_weight_submissions_total", (("result", "ok"),))] == 1
    assert s[("throne_weight_submissions_total", (("result", "failed"),))] == 2
    assert s[("throne_failures_total", (("kind", "inference"),))] == 1
    assert s[("throne_projection_lag_events", (("projection", "standings"),))] == 42
    m.observe_champion(None)
    assert _samples(m)[("throne_champion_uid", ())] == -1


def test_two_metric_sets_in_one_process_do_not_share_counts() -> None:
    a, b = ThroneMetrics(), ThroneMetrics()
    a.observe_failure("chain")
    assert ("throne_failures_total", (("kind", "chain"),)) not in _samples(b)
