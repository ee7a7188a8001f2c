from collections.abc import Callable
from pathlib import Path

import pytest

from throne.daemon.settings import SettingsError, load_settings, redact_url, settings_from_dict
from throne.domain.contest.config import ContestConfig, EnvConfig
from throne.domain.field_rules import OutOfRange

RANGES = {"SAT": (0, 1000), "ABD": (0, 500)}


def test_no_file_means_every_default() -> None:
    s = load_settings(None, RANGES)
    assert s.validator.netuid == 120
    assert s.validator.weights_interval_blocks == 180
    assert [e.name for e in s.contest.envs] == ["SAT", "ABD"]
    assert s.contest.env("SAT").sampling_count == 200
    assert s.contest.min_dominant_envs == 0


def test_file_values_override_defaults(tmp_path: Path) -> None:
    f = tmp_path / "throne.toml"
    f.write_text(
        "[validator]\nnetuid = 7\npoll_seconds = 1\n[contest]\nburn = 0.1\n"
        '[envs.SAT]\nsampling_count = 50\nmode = "latest"\n'
    )
    s = load_settings(f, RANGES)
    assert s.validator.netuid == 7 and s.contest.netuid == 7
    assert s.validator.poll_seconds == 1.0
    assert s.contest.burn == 0.1
    assert [e.name for e in s.contest.envs] == ["SAT"]
    assert s.contest.env("SAT").mode == "latest"
    assert s.contest.env("SAT").pool_size == 56  # ceil(50 * 1.1) in float math, as the reference


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"validator": {"netuid": "x"}}, "netuid must be int"),
        ({"validator": {"nope": 1}}, "unknown key(s) ['nope']"),
        ({"contest": {"burn": 2.0}}, "burn must be within"),
        ({"envs": {"XYZ": {}}}, "env 'XYZ' is not installed"),
        ({"envs": {"SAT": {"id_range": [0, 5000]}}}, "id_range must lie within [0, 1000]"),
        ({"envs": {"SAT": {"sampling_count": 2000}}}, "exceeds id range"),
        ({"extra": {}}, "unknown section"),
        ({"inference": {"gatway": "http://x/v1"}}, "[inference]: unknown key(s) ['gatway']"),
        ({"inference": {"proxy_from_environment": "yes"}}, "must be true or false"),
        ({"model_hub": {"token": "hf_x"}}, "[model_hub]: unknown key(s) ['token']"),
        ({"model_hub": {"kind": "hf"}}, "kind must be one of auto, huggingface, none"),
        ({"model_hub": {"endpoint": "huggingface.co"}}, "endpoint must be an http(s):// URL"),
        ({"model_hub": {"budget_seconds": 0}}, "budget_seconds must be > 0"),
        ({"model_hub": {"timeout_seconds": "10"}}, "timeout_seconds must be float"),
        ({"model_hub": []}, "[model_hub] must be a table"),
    ],
)
def test_bad_settings_are_named_errors(raw: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SettingsError, match=None) as exc:
        settings_from_dict(raw, RANGES)
    assert message in str(exc.value)


def test_invalid_toml_is_a_one_line_error(tmp_path: Path) -> None:
    f = tmp_path / "throne.toml"
    f.write_text("[validator\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(f, RANGES)


def test_config_show_redacts_api_keys() -> None:
    s = settings_from_dict({"inference": {"api_key": "secret", "gateway": "http://x"}}, RANGES)
    shown = s.to_dict()
    assert shown["inference"] == {"api_key": "***", "gateway": "http://x"}


def test_the_model_hub_defaults_to_hugging_face_on_bittensor_networks_only() -> None:
    hub = load_settings(None, RANGES).model_hub
    assert (hub.kind, hub.endpoint, hub.token_env) == ("auto", "https://huggingface.co", "HF_TOKEN")
    assert (hub.timeout_seconds, hub.budget_seconds, hub.retry_after_failure_seconds) == (
        10.0,
        20.0,
        600.0,
    )
    assert hub.resolved_kind("local") == "none"
    assert hub.resolved_kind("finney") == "huggingface"
    assert hub.resolved_kind("wss://entrypoint-finney.opentensor.ai:443") == "huggingface"
    forced = settings_from_dict({"model_hub": {"kind": "huggingface"}}, RANGES).model_hub
    assert forced.resolved_kind("local") == "huggingface"
    off = settings_from_dict({"model_hub": {"kind": "none"}}, RANGES).model_hub
    assert off.resolved_kind("finney") == "none"


def test_config_show_includes_the_model_hub_but_never_a_token() -> None:
    shown = settings_from_dict({"model_hub": {"timeout_seconds": 3}}, RANGES).to_dict()
    assert shown["model_hub"]["timeout_seconds"] == 3.0
    assert shown["model_hub"]["token_env"] == "HF_TOKEN"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:secret@h:5432/db?schema=s", "postgresql://u:***@h:5432/db?schema=s"),
        ("https://bob:pw@gw.example/v1", "https://bob:***@gw.example/v1"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("https://gw.example/v1", "https://gw.example/v1"),
        ("/data/logs@home/throne.db", "/data/logs@home/throne.db"),
    ],
)
def test_a_password_in_a_url_is_hidden_and_nothing_else_changes(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_config_show_hides_the_database_password_but_not_the_hotkeys() -> None:
    raw = {"validator": {"db": "postgresql://throne:pw@db:5432/throne", "hotkey": "hk"}}
    shown = settings_from_dict(raw, RANGES).to_dict()["validator"]
    assert shown["db"] == "postgresql://throne:***@db:5432/throne"
    assert (shown["hotkey"], shown["wallet_hotkey"]) == ("hk", "default")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ContestConfig(completeness=0.0), "completeness must be within (0, 1], got 0.0"),
        (lambda: ContestConfig(max_champion_missed_pools=0), "max_champion_missed_pools must be"),
        (lambda: ContestConfig(release_after_infra_errors=0), "release_after_infra_errors must"),
        (lambda: EnvConfig("SAT", 0, (0, 10)), "sampling_count must be >= 1, got 0"),
        (lambda: EnvConfig("SAT", 1, (5, 5)), "id_range must be [start, stop]"),
        (lambda: EnvConfig("SAT", 1, (0, 9), not_worse_tolerance=2.0), "not_worse_tolerance"),
    ],
)
def test_the_contest_rules_refuse_values_out_of_range_however_they_are_built(
    build: Callable[[], object], message: str
) -> None:
    # The same ranges hold for a config read from throne.toml and one rebuilt from the log.
    with pytest.raises(OutOfRange) as exc:
        build()
    assert message in str(exc.value)


def test_a_changed_copy_of_a_settings_section_is_checked_too() -> None:
    from dataclasses import replace

    validator = load_settings(None, RANGES).validator
    with pytest.raises(ValueError, match="poll_seconds must be > 0"):
        replace(validator, poll_seconds=-1.0)
