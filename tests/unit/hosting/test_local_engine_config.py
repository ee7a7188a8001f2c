"""`LocalEngineHost` checks its configuration when it is built, before any engine runs, and
the ready-made engine templates pass that check."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from throne.adapters.hosting.engines import TEMPLATES
from throne.adapters.hosting.local_engine import LocalEngineHost


def build(tmp_path: Path, command: str, **options: object) -> LocalEngineHost:
    return LocalEngineHost(
        command,
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        **options,  # type: ignore[arg-type]
    )


def no_files(model: str, revision: str) -> Path:
    raise AssertionError("not called when building")


def test_an_unknown_template_field_fails_when_the_host_is_built(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown field \{gpu\}"):
        build(tmp_path, "engine --port {port} --gpus {gpu}")
    assert not (tmp_path / "state").exists()


def test_an_unknown_field_in_the_served_model_name_fails_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown field \{name\}"):
        build(tmp_path, "engine --port {port}", served_model="{name}")


def test_the_model_folder_is_a_field_only_with_a_model_cache(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown field \{model_dir\}"):
        build(tmp_path, "engine {model_dir} --port {port}")
    build(tmp_path, "engine {model_dir} --port {port}", model_files=no_files)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"slots": ()}, "at least one slot"),
        ({"ports": range(5, 5)}, "non-empty range"),
        ({"ports": range(65000, 70000)}, "within 1..65535"),
        ({"ready_timeout": 0}, "ready_timeout"),
    ],
)
def test_bad_slots_ports_or_timeouts_fail_when_the_host_is_built(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build(tmp_path, "engine --port {port}", **options)


def test_capacity_counts_every_slot_free_before_any_deploy(tmp_path: Path) -> None:
    capacity = build(tmp_path, "engine --port {port}", slots=("0", "1", "2,3")).capacity()
    assert (capacity.total, capacity.free) == (3, 3)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_ready_made_engine_templates_are_valid(tmp_path: Path, name: str) -> None:
    template = TEMPLATES[name]
    assert "{port}" in template.command and "{host}" in template.command
    build(tmp_path, template.command, served_model=template.served_model, model_files=no_files)


def test_the_example_configuration_shows_the_ready_made_templates_as_they_are() -> None:
    example = (ROOT / "docs" / "throne.toml").read_text()
    shown = [
        tomllib.loads(line.removeprefix("# "))["command"]
        for line in example.splitlines()
        if line.startswith("# command = ")
    ]
    assert sorted(shown) == sorted(t.command for t in TEMPLATES.values())
