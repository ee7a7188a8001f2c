"""The chain commands run bittensor: isolated from the home directory, as the adapters are."""

from tests.support.bittensor_home import _no_home_writes  # noqa: F401 (autouse)
