from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from throne.envs.abd import AbdEnvironment
from throne.envs.ded import DedEnvironment
from throne.envs.sandbox import ForkServerSandbox
from throne.envs.sandbox.client import UID_BASE, UID_COUNT
from throne.ports.sandbox import Limits

# Small limits keep the adversarial runs short; the pinned production limits are the defaults.
TEST_LIMITS = Limits(wall_s=3.0, cpu_s=2, cpu_hard_s=3, address_space=256 * 1024 * 1024,
                     output_bytes=100_000, processes=16)  # fmt: skip


# A uid range of this test session's own, above the default one: a check that no process of
# a run survives it counts this session's runs only, whatever else runs on the machine. Two
# live sessions share a range only if their pids differ by a multiple of the modulus (with
# pid % 1000, one pair in a thousand did); the top range still ends below uid 2**32 - 1.
TEST_UID_BASE = UID_BASE + UID_COUNT * (1 + os.getpid() % 500_000)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ForkServerSandbox]:
    box = ForkServerSandbox(limits=TEST_LIMITS, uid_base=TEST_UID_BASE)
    yield box
    box.close()


@pytest.fixture(scope="session")
def abd(sandbox: ForkServerSandbox) -> AbdEnvironment:
    return AbdEnvironment(sandbox)


@pytest.fixture(scope="session")
def ded(sandbox: ForkServerSandbox) -> DedEnvironment:
    return DedEnvironment(sandbox)
