"""Chains plus the hand of whoever runs them, so one contract suite runs against each adapter.

A world registers hotkeys, moves blocks and changes subnet limits: things the `Chain` port
itself does not offer. A `SignerWorld` puts each chain of another world behind a real signer
(its API on a unix socket), as the daemon holds it with ``signer_url`` set.
"""

from __future__ import annotations

import secrets
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

from bittensor.sp_core import Keypair

from tests.integration.chain.fake_substrate import FakeSubstrate
from tests.support.signer import serving
from throne.adapters.chain.bittensor_chain import BittensorChain, BittensorSettings
from throne.adapters.chain.local import LocalChain
from throne.adapters.signer.chain import NoKey, SignerChain
from throne.adapters.signer.client import SignerClient
from throne.ports.chain import Chain
from throne.signer.service import Holding

NETUID = 120


class World(Protocol):
    kind: str
    #: whether its chains publish commitments (a chain behind the signer sets weights only)
    commits: bool

    def hotkey(self, name: str) -> str: ...
    def register(self, name: str) -> int: ...
    def advance(self, blocks: int) -> None: ...
    def configure(
        self, *, rate_limit: int | None = None, version_key: int | None = None
    ) -> None: ...
    def chain_as(self, name: str) -> Chain: ...


class LocalWorld:
    kind = "local"
    commits = True

    def __init__(self, path: Path) -> None:
        self.path = path
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

    def reads(self) -> Chain:
        """A handle that signs as nobody."""
        return LocalChain(self.path)

    def close(self) -> None:
        pass


class FakeNodeWorld:
    kind = "bittensor"
    commits = True

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

    def reads(self) -> Chain:
        """A handle that holds no key, as the daemon's behind a signer."""
        chain = BittensorChain(
            BittensorSettings(network="local", data_dir=self.data_dir),
            substrate=self.node,
            signer=NoKey(),
        )
        self.opened.append(chain)
        return chain

    def close(self) -> None:
        for chain in self.opened:
            chain.close()


class SignerWorld:
    """The chains of ``inner``, each behind a signer that holds ``inner.chain_as(name)``; reads
    go to ``inner`` through a handle without a key."""

    commits = False

    def __init__(self, inner: LocalWorld | FakeNodeWorld) -> None:
        self.inner = inner
        self.kind = f"{inner.kind} through a signer"
        self.token = secrets.token_urlsafe(32)
        self._stack = ExitStack()
        # a unix socket's path must stay short (108 bytes): not under pytest's long names
        self._sockets = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))

    def hotkey(self, name: str) -> str:
        return self.inner.hotkey(name)

    def register(self, name: str) -> int:
        return self.inner.register(name)

    def advance(self, blocks: int) -> None:
        self.inner.advance(blocks)

    def configure(self, *, rate_limit: int | None = None, version_key: int | None = None) -> None:
        self.inner.configure(rate_limit=rate_limit, version_key=version_key)

    def chain_as(self, name: str) -> Chain:
        key = Keypair.create_from_uri(f"//{name}")  # signs checkpoints: not what is tested here
        holding = Holding(self.inner.chain_as(name), key, NETUID, self.inner.kind)
        path = self._sockets / f"{len(list(self._sockets.iterdir()))}.sock"
        url = self._stack.enter_context(serving(holding, self.token, path))
        chain = SignerChain(self.inner.reads(), SignerClient(url, self.token))
        self._stack.callback(chain.close)
        return chain

    def close(self) -> None:
        self._stack.close()
        self.inner.close()
