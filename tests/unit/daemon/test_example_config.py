from tests.support.paths import ROOT
from throne.daemon.settings import load_settings
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
