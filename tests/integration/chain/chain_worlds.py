"""Chains plus the hand of whoever runs them, so one contract suite runs against each adapter.

A world registers hotkeys, moves blocks and changes subnet limits: things the `Chain` port
itself does not offer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bittensor.sp_core import Keypair

from tests.integration.chain.fake_substrate import FakeSubstrate
from throne.adapters.chain.bittensor_chain import BittensorChain, BittensorSettings
from throne.adapters.chain.local import LocalChain
from throne.ports.chain import Chain

NETUID = 120


class World(Protocol):
    kind: str

    def hotkey(self, name: str) -> str: ...
    def register(self, name: str) -> int: ...
    def advance(self, blocks: int) -> None: ...
    def configure(
        self, *, rate_limit: int | None = None, version_key: int | None = None
    ) -> None: ...
    def chain_as(self, name: str) -> Chain: ...


class LocalWorld:
    kind = "local"

    def __init__(self, path: Path) -> None:
        self.chain = LocalChain.init(path, netuid=NETUID, clock_mode="manual", start_block=1000)

    def hotkey(self, name: str) -> str:
        return name

    def register(self, name: str) -> int:
        return self.chain.register(NETUID, name)

    def advance(self, blocks: int) -> None:
        self.chain.advance(blocks)

    def configure(self, *, rate_limit: int | None = None, version_key: int | None = None) -> None:
        self.chain.configure_subnet(NETUID, weights_rate_limit=rate_limit, version_key=version_key)

    def chain_as(self, name: str) -> Chain:
        return self.chain.as_signer(name)


class FakeNodeWorld:
    kind = "bittensor"

    def __init__(self, data_dir: Path) -> None:
        self.node = FakeSubstrate(block=1000)
        self.node.subnet(NETUID)
        self.data_dir = data_dir
        self.opened: list[BittensorChain] = []

    def keypair(self, name: str) -> Keypair:
        return Keypair.create_from_uri(f"//{name}")

    def hotkey(self, name: str) -> str:
        return str(self.keypair(name).ss58_address)

    def register(self, name: str) -> int:
        return self.node.register(NETUID, self.hotkey(name))

    def advance(self, blocks: int) -> None:
        self.node.advance(blocks)

    def configure(self, *, rate_limit: int | None = None, version_key: int | None = None) -> None:
        limits = {"rate_limit": rate_limit, "version_key": version_key}
        self.node.configure(NETUID, **{k: v for k, v in limits.items() if v is not None})

    def chain_as(self, name: str) -> Chain:
        chain = BittensorChain(
            BittensorSettings(network="local", data_dir=self.data_dir),
            substrate=self.node,
            signer=self.keypair(name),
        )
        self.opened.append(chain)
        return chain

    def close(self) -> None:
        for chain in self.opened:
            chain.close()
