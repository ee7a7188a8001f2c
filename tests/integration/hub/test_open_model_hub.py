"""The composition root picks the model hub from [model_hub] and the chain, token from the env."""

from __future__ import annotations

import pytest

from tests.support.fake_hub import FakeHub, lfs_file
from throne.adapters.hub import HuggingFaceHub
from throne.adapters.hub.fixed import NoModelHub
from throne.app import open_model_hub
from throne.daemon.settings import SettingsError, settings_from_dict

RANGES = {"SAT": (0, 1000)}


@pytest.mark.parametrize(
    ("chain", "kind", "expected"),
    [
        ("local", "auto", NoModelHub),
        ("finney", "auto", HuggingFaceHub),
        ("test", "auto", HuggingFaceHub),
        ("local", "huggingface", HuggingFaceHub),
        ("finney", "none", NoModelHub),
    ],
)
def test_the_hub_follows_kind_and_chain(chain: str, kind: str, expected: type) -> None:
    settings = settings_from_dict(
        {"validator": {"chain": chain}, "model_hub": {"kind": kind}}, RANGES
    )
    assert type(open_model_hub(settings, environ={})) is expected


@pytest.mark.parametrize(
    ("environ", "header"),
    [
        ({}, None),
        ({"HF_TOKEN": ""}, None),
        ({"HF_TOKEN": "hf_default"}, "Bearer hf_default"),
        ({"HF_TOKEN": "hf_default", "HUB_KEY": "hf_named"}, "Bearer hf_named"),
    ],
)
def test_the_token_is_sent_only_when_its_variable_is_set(
    environ: dict[str, str], header: str | None
) -> None:
    token_env = "HUB_KEY" if "HUB_KEY" in environ else "HF_TOKEN"
    with FakeHub() as fake:
        sha = fake.publish("org/affine-a", [lfs_file("m.safetensors", b"w")])
        settings = settings_from_dict(
            {"model_hub": {"kind": "huggingface", "endpoint": fake.url, "token_env": token_env}},
            RANGES,
        )
        assert open_model_hub(settings, environ).model_hashes([("org/affine-a", sha)])
        assert [s.authorization for s in fake.seen] == [header]


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    with FakeHub() as fake:
        sha = fake.publish("org/affine-a", [lfs_file("m.safetensors", b"w")])
        settings = settings_from_dict(
            {"model_hub": {"kind": "huggingface", "endpoint": fake.url}}, RANGES
        )
        open_model_hub(settings).model_hashes([("org/affine-a", sha)])
        assert [s.authorization for s in fake.seen] == ["Bearer hf_from_env"]


@pytest.mark.parametrize("configured", [False, True], ids=["default", "configured"])
def test_hf_endpoint_stands_in_for_the_default_endpoint_not_for_a_configured_one(
    configured: bool,
) -> None:
    with FakeHub() as from_env, FakeHub() as from_file:
        (sha,) = {
            h.publish("org/affine-a", [lfs_file("m.bin", b"w")]) for h in (from_env, from_file)
        }
        table = {"kind": "huggingface"} | ({"endpoint": from_file.url} if configured else {})
        settings = settings_from_dict({"model_hub": table}, RANGES)
        hub = open_model_hub(settings, {"HF_ENDPOINT": from_env.url})
        assert hub.model_hashes([("org/affine-a", sha)])
        asked, not_asked = (from_file, from_env) if configured else (from_env, from_file)
        assert (len(asked.seen), len(not_asked.seen)) == (1, 0)


def test_an_hf_endpoint_that_is_not_a_url_stops_the_start() -> None:
    settings = settings_from_dict({"model_hub": {"kind": "huggingface"}}, RANGES)
    with pytest.raises(SettingsError, match="HF_ENDPOINT must be an http"):
        open_model_hub(settings, {"HF_ENDPOINT": "hub.example"})
