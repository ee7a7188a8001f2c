"""``[envs.NAME]`` service keys: an env served elsewhere, and the errors of a bad table."""

from __future__ import annotations

from typing import Any

import pytest

from throne.daemon.settings import SettingsError, settings_from_dict

RANGES = {"SAT": (0, 1000), "ABD": (0, 500)}
OPTIONAL = {"GUESS": (0, 10_000)}


def load(envs: dict[str, Any]) -> Any:
    return settings_from_dict({"envs": envs}, RANGES, optional=OPTIONAL)


def test_an_env_without_a_url_runs_in_process_and_its_rules_are_the_contests() -> None:
    s = load({"SAT": {"sampling_count": 20}})
    assert s.env_services == {}
    assert s.contest.env("SAT").sampling_count == 20


def test_an_installed_env_can_be_served_elsewhere_with_its_own_id_range() -> None:
    s = load({"SAT": {"url": "http://10.0.0.5:8000/", "sampling_count": 20, "timeout": 30}})
    service = s.env_services["SAT"]
    assert service.urls == ("http://10.0.0.5:8000",)
    assert service.timeout == 30.0 and service.concurrency == 8
    assert s.contest.env("SAT").id_range == (0, 1000)
    # The service keys are the validator's, not the contest's: the recorded rules lack them.
    assert "url" not in s.contest.env("SAT").to_dict()


def test_an_env_that_is_not_installed_is_a_service_with_an_id_range() -> None:
    s = load(
        {
            "SWE": {
                "urls": ["http://a:8000", "http://b:8000"],
                "load_balance": "random",
                "id_range": [0, 5000],
                "interface": "interactive",
                "max_turns": 5,
                "score_range": [0, 100],
                "eval_params": {"agent": "x", "max_iterations": 3},
            }
        }
    )
    service = s.env_services["SWE"]
    assert service.urls == ("http://a:8000", "http://b:8000")
    assert (service.load_balance, service.interface, service.max_turns) == (
        "random",
        "interactive",
        5,
    )
    assert service.score_range == (0.0, 100.0)
    assert service.eval_params == {"agent": "x", "max_iterations": 3}
    assert s.contest.env("SWE").id_range == (0, 5000)
    shown = s.to_dict()["envs"]["SWE"]
    assert shown["urls"] == ["http://a:8000", "http://b:8000"] and shown["id_range"] == [0, 5000]


def test_the_optional_envs_run_only_when_named() -> None:
    assert [e.name for e in load({}).contest.envs] == ["SAT", "ABD"]
    assert [e.name for e in load({"GUESS": {}}).contest.envs] == ["GUESS"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"NOPE": {}}, "env 'NOPE' is not installed"),
        ({"NOPE": {"url": "http://h:1"}}, "needs its id_range"),
        ({"SAT": {"timeout": 5}}, "need the env's url"),
        ({"SAT": {"url": "http://h:1", "urls": ["http://h:2"]}}, "url or urls, not both"),
        ({"SAT": {"url": "ftp://h"}}, "url must be http(s)"),
        ({"SAT": {"urls": []}}, "non-empty list"),
        ({"SAT": {"url": "http://h:1", "load_balance": "fastest"}}, "load_balance must be"),
        ({"SAT": {"url": "http://h:1", "interface": "chat"}}, "interface must be"),
        ({"SAT": {"url": "http://h:1", "concurrency": 0}}, "concurrency must be"),
        ({"SAT": {"url": "http://h:1", "timeout": -1}}, "timeout must be"),
        ({"SAT": {"url": "http://h:1", "score_range": [1, 0]}}, "score_range must be"),
        ({"SAT": {"url": "http://h:1", "eval_params": 3}}, "eval_params must be a table"),
        ({"SAT": {"url": "http://h:1", "id_range": [0, 5000]}}, "id_range must lie within"),
    ],
)
def test_a_bad_service_table_is_refused_with_the_key_named(
    table: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(table)
