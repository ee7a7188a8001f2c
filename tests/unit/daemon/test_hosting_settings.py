"""``[hosting]``: defaults, what each host needs, and a clear error for each bad value."""

from __future__ import annotations

from typing import Any

import pytest

from throne.daemon.settings import SettingsError, settings_from_dict

RANGES = {"SAT": (0, 1000)}


def hosting(table: dict[str, Any]) -> Any:
    return settings_from_dict({"hosting": table}, RANGES).hosting


def test_the_default_is_the_static_gateway_with_two_pre_deployed() -> None:
    h = settings_from_dict({}, RANGES).hosting
    assert (h.host, h.pre_deploy, h.unhealthy_after, h.retry_after) == ("static", 2, 5, 5.0)
    assert settings_from_dict({}, RANGES).to_dict()["hosting"]["host"] == "static"


def test_each_host_reads_its_own_table() -> None:
    local = hosting(
        {
            "host": "local",
            "local": {"command": "engine {port}", "slots": ["0", "1"], "ports": [31000, 31010]},
        }
    )
    assert local.local.slots == ["0", "1"] and local.local.ports == [31000, 31010]
    ssh = hosting(
        {"host": "ssh", "ssh": {"command": "engine", "boxes": [{"host": "gpu1", "port": 2222}]}}
    )
    assert [(b.name, b.host, b.port, b.user) for b in ssh.ssh.boxes] == [
        ("gpu1", "gpu1", 2222, "root")
    ]
    chutes = hosting({"host": "chutes", "chutes": {"key_env": "MY_KEY"}})
    assert chutes.chutes.key_env == "MY_KEY"
    assert hosting({"cache": {"dir": "/models", "max_bytes": 10}}).cache.max_bytes == 10


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"host": "gpu"}, "[hosting]: host must be one of static, local, ssh, chutes, got 'gpu'"),
        ({"host": "local"}, '[hosting.local]: host = "local" needs an engine command'),
        (
            {"host": "ssh", "ssh": {"command": "x"}},
            '[hosting.ssh]: host = "ssh" needs at least one box',
        ),
        ({"pre_deploy": -1}, "[hosting]: pre_deploy must be >= 0, got -1"),
        ({"health_every": 0}, "[hosting]: health_every must be > 0"),
        ({"unhealthy_after": 0}, "[hosting]: unhealthy_after must be >= 1"),
        ({"retry_after": 0}, "[hosting]: retry_after must be > 0"),
        ({"ready_timeout": "long"}, "[hosting]: ready_timeout must be float, got str"),
        ({"local": {"ports": [5, 1]}}, "[hosting.local] ports must be [start, stop]"),
        ({"local": {"slots": [0]}}, "[hosting.local] slots must be a non-empty list of strs"),
        ({"local": {"gpus": 1}}, "[hosting.local]: unknown key(s) ['gpus']"),
        ({"ssh": {"boxes": [{"host": ""}]}}, "[hosting.ssh] boxes[0]: host must not be empty"),
        ({"ssh": {"boxes": [{"host": "a", "port": 0}]}}, "boxes[0]: port must lie in [1, 65535]"),
        (
            {"ssh": {"boxes": [{"host": "a"}, {"host": "a"}]}},
            "[hosting.ssh]: two boxes share a name",
        ),
        ({"ssh": {"boxes": "a"}}, "[hosting.ssh]: boxes must be a list of tables, got str"),
        ({"chutes": {"api": "ftp://x"}}, "[hosting.chutes]: api must be an http(s):// URL"),
        ({"cache": {"max_bytes": 0}}, "[hosting.cache]: max_bytes must be >= 1"),
        ({"gpu": True}, "[hosting]: unknown key(s) ['gpu']"),
    ],
)
def test_a_bad_value_is_one_line_naming_it(table: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        hosting(table)
    text = str(raised.value)
    assert message in text and "\n" not in text
    assert text.count("settings [") == 1, "the section is named once"


def test_hosting_must_be_a_table() -> None:
    with pytest.raises(SettingsError, match=r"\[hosting\] must be a table"):
        settings_from_dict({"hosting": 3}, RANGES)
