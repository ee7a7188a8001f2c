import tomllib
from dataclasses import fields

from tests.support.paths import ROOT
from throne.daemon.settings import (
    HOSTING_TABLES,
    HostingSettings,
    SshBoxSettings,
    load_settings,
    settings_from_dict,
)
from throne.envs.registry import environments

EXAMPLE = ROOT / "docs" / "throne.toml"


def test_the_documented_example_parses_and_equals_the_defaults() -> None:
    ranges = {name: env.id_range for name, env in environments().items()}
    documented = load_settings(EXAMPLE, ranges)
    defaults = load_settings(None, ranges)
    assert documented.validator == defaults.validator
    assert documented.sampler == defaults.sampler
    assert documented.model_hub == defaults.model_hub
    assert documented.contest.env("SAT") == defaults.contest.env("SAT")
    assert documented.contest.to_dict() | {"envs": []} == defaults.contest.to_dict() | {"envs": []}


def test_the_documented_example_shows_every_hosting_key_at_its_default() -> None:
    ranges = {name: env.id_range for name, env in environments().items()}
    assert load_settings(EXAMPLE, ranges).hosting == load_settings(None, ranges).hosting
    text = EXAMPLE.read_text()
    raw = tomllib.loads(text)["hosting"]
    defaults = HostingSettings()
    tables = {name: getattr(defaults, name) for name in HOSTING_TABLES}
    assert set(raw) == {f.name for f in fields(defaults)}, "every [hosting] key, every table"
    for name, table in tables.items():
        shown = set(raw[name]) | ({"boxes"} if name == "ssh" else set())
        assert shown == {f.name for f in fields(table)}, f"[hosting.{name}]"
    # The SSH boxes are a list (none by default): the commented example shows one box's keys.
    lines = text.splitlines()
    start = lines.index("# [[hosting.ssh.boxes]]") + 1
    box = []
    for line in lines[start:]:
        if not line.startswith("# ") or line.startswith("# ["):
            break
        box.append(line.removeprefix("# "))
    example = tomllib.loads("\n".join(box))
    assert set(example) == {f.name for f in fields(SshBoxSettings)}
    settings_from_dict({"hosting": {"ssh": {"boxes": [example]}}}, ranges)
