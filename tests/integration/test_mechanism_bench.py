"""The mechanism bench measures the real contest: its figures, its statistics and its verdict."""

import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench import mechanism
from bench.mechanism import (
    RULES,
    BattleResult,
    Settings,
    Tally,
    Unit,
    cell_report,
    check_targets,
    difference_variance,
    draw_pairs,
    limit_power,
    measure,
    oracle_limit_power,
    run_unit,
    usable_rules,
    wilson,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = Settings(trials=3, ps=(0.5,), rhos=(0.5,), scan_trials=0)


def test_a_tiny_run_reports_every_rule_and_every_figure() -> None:
    report = measure(TINY)
    json.dumps(report)  # the --json output
    (cell,) = report["cells"]
    assert set(cell["rules"]) == set(RULES)
    assert set(cell["limit"]) == {"+0.02", "+0.05", "+0.10"}
    for figures in cell["rules"].values():
        for rate in [
            figures["false_dethrone"],
            figures["terminated_worse"],
            *figures["power"].values(),
        ]:
            assert rate["n"] == TINY.trials
            assert rate["low"] <= rate["rate"] <= rate["high"]
        assert set(figures["power"]) == {"+0.02", "+0.05", "+0.10"}
        mix = figures["mix_samples"]
        assert 0 < mix["low"] <= mix["mean"] <= mix["high"]


def test_the_figures_do_not_depend_on_the_number_of_processes() -> None:
    one = measure(TINY)
    two = measure(dataclasses.replace(TINY, jobs=2))
    for report in (one, two):
        del report["seconds"]
        report["settings"].pop("jobs")
    assert one == two


def test_the_command_prints_json_with_the_targets_and_exits_1_exactly_when_one_is_missed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = mechanism.main(
        ["--trials", "2", "--p", "0.5", "--rho", "0.8", "--scan-trials", "0", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert out["targets"]["criterion"]
    assert code == (1 if out["targets"]["missed"] else 0)


def test_the_bench_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, "bench/mechanism.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--sampling-counts" in done.stdout


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (score, no correction)
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_published_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson(k, n)
    assert got == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_difference_variance_is_the_task_models() -> None:
    # by hand: equal sides, half the tasks shared: 2 p (1 - p) (1 - rho) = 0.25
    assert difference_variance(0.5, 0.5, 0.0) == pytest.approx(0.25)
    # every task shared: the sides differ on a fraction delta of tasks: delta - delta²
    assert difference_variance(0.5, 1.0, 0.05) == pytest.approx(0.05 - 0.0025)
    # and the draws have it
    rng = random.Random(7)
    diffs = [b - a for a, b in draw_pairs(rng, 0.3, 0.5, 0.1, 40_000)]
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    assert mean == pytest.approx(0.1, abs=0.01)
    assert var == pytest.approx(difference_variance(0.3, 0.5, 0.1), rel=0.03)


def test_the_limit_matches_a_hand_computation() -> None:
    # p = 0.5, rho = 0.5, delta = +0.05 on a pool of 221 + 111 + 330 = 662 tasks: per-task
    # variance 0.025 + 0.25 - 0.0025 = 0.2725, se = sqrt(0.2725 / 662) = 0.020289;
    # power = Phi(0.05 / 0.020289 - 2.326348) = Phi(0.1381) = 0.5549
    assert limit_power(0.5, 0.5, 0.05, (221, 111, 330)) == pytest.approx(0.5549, abs=1e-4)
    # no difference: the test's own level
    assert limit_power(0.5, 0.5, 0.0, (221, 111, 330)) == pytest.approx(0.01)
    # told the variance at delta = 0 (0.25: se0 = 0.019433), the bound is lower:
    # Phi((0.05 - 2.326348 x 0.019433) / 0.020289) = Phi(0.2362) = 0.5934
    assert oracle_limit_power(0.5, 0.5, 0.05, (221, 111, 330)) == pytest.approx(0.5934, abs=1e-4)


def test_a_rule_that_lets_noise_win_is_reported_and_fails_its_targets() -> None:
    # no margin and no tolerance: one env where an equal challenger's mean is above the
    # champion's dethrones, which noise gives it in most battles (1 - (1/2)³ without ties)
    lenient = {
        "rule": "partial",
        "min_dominant_envs": 1,
        "env": {"margin": 0.0, "not_worse_tolerance": 1.0},
    }
    report = measure(
        Settings(trials=30, ps=(0.5,), rhos=(0.0,), scan_trials=0),
        {"lenient": lenient, "reference": RULES["reference"]},
    )
    figures = report["cells"][0]["rules"]["lenient"]
    assert figures["false_dethrone"]["rate"] > 0.6
    assert figures["false_dethrone"]["low"] > report["alpha"]
    targets = check_targets(report, rule="lenient")
    assert any("false dethrones" in m for m in targets["missed"])


def test_a_prefix_based_rule_decides_the_same_whatever_the_batch() -> None:
    rules, _ = usable_rules({"sequential": RULES["sequential"]})
    if not rules:
        pytest.skip("no sequential rule in this build")

    def outcomes(batch: int) -> tuple[int, int]:
        tally = run_unit(Unit(0.5, 0.5, 0.05, 6, 3, (200, 100, 300), batch, rules))["sequential"]
        return tally.dethroned, tally.terminated

    assert outcomes(20) == outcomes(7) == outcomes(101)


def test_mix_samples_are_the_scenarios_means_weighted_70_20_10() -> None:
    def tally(samples: list[int]) -> Tally:
        t = Tally()
        for n in samples:
            t.add(BattleResult("terminated", n))
        return t

    means = {-0.05: 100, 0.0: 300, 0.02: 600, 0.05: 600, 0.10: 600}
    tallies = {d: {"r": tally([m - 10, m + 10])} for d, m in means.items()}
    mix = cell_report(0.5, 0.5, (200, 100, 300), tallies)["rules"]["r"]["mix_samples"]
    assert mix["mean"] == pytest.approx(0.7 * 100 + 0.2 * 300 + 0.1 * 600)
    assert mix["low"] < mix["mean"] < mix["high"]
