"""The chain commands run bittensor: isolated from the home directory, as its adapters are."""

from tests.integration.chain.conftest import _no_home_writes  # noqa: F401 (autouse)
