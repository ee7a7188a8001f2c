"""`BittensorChain`: the `Chain` port over bittensor 11 (finney, testnet, a local node or a URL).

bittensor is imported on first use, not at import time (it costs about a third of a second).
Every call runs the SDK's async client on a private loop under its own deadline
(`LoopThread`), because the SDK's blocking path has none. Failures are sorted into what a
daemon can do about them: `ChainUnavailable`/`ChainTimeout` (retry later), a non-ok
`WeightSubmission` (rate limit, stale version key, ...), `ChainRefused` (fix the request), and
`WalletLocked` (the hotkey is encrypted and no password was given; nothing ever prompts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from throne.adapters.chain.commitment import raw_fields
from throne.adapters.chain.loop_thread import LoopThread
from throne.adapters.chain.rate_limit import blocks_until_allowed
from throne.domain.contest.weights import U16_MAX, InvalidWeights, to_u16
from throne.domain.queue.snapshot import ChainSnapshot, Commitment, CommitmentStatus, Neuron
from throne.ports.chain import (
    Chain,
    ChainRefused,
    ChainTimeout,
    ChainUnavailable,
    CommitReceipt,
    OnchainWeights,
    WalletLocked,
    WeightErrorCode,
    WeightSubmission,
)

T = TypeVar("T")

_SUBTENSOR = "SubtensorModule"


@dataclass(frozen=True)
class BittensorSettings:
    """Where to connect and whom to sign as.

    ``network`` is ``finney``, ``test``, ``local`` (ws://127.0.0.1:9944) or a ws(s):// URL.
    The hotkey is read from ``wallet_path/wallet_name/hotkeys/wallet_hotkey``; if it is
    encrypted its password comes from ``password_file``, ``BT_WALLET_PASSWORD`` or
    ``BT_WALLET_PASSWORD_FILE``. The SDK's own caches go under ``data_dir/bittensor``.
    """

    network: str = "finney"
    wallet_name: str = "default"
    wallet_hotkey: str = "default"
    wallet_path: Path = Path("~/.bittensor/wallets")
    password_file: Path | None = None
    data_dir: Path = Path(".throne")
    read_deadline_s: float = 30.0
    write_deadline_s: float = 120.0


def redirect_sdk_files(data_dir: Path) -> Path:
    """Point bittensor's token-symbol and runtime-metadata caches into ``data_dir/bittensor``.

    The SDK writes them under ``~/.bittensor`` by default, even with a fake substrate; a
    validator keeps all of its files in its data directory instead.
    """
    root = Path(data_dir).expanduser() / "bittensor"
    root.mkdir(parents=True, exist_ok=True)
    os.environ["BTCLI_TOKEN_SYMBOLS_CACHE"] = str(root / "token_symbols.json")
    os.environ["BITTENSOR_RUNTIME_CACHE_DIR"] = str(root / "runtime-cache")
    return root


def _bittensor() -> Any:
    import bittensor

    return bittensor


class BittensorChain(Chain):
    """The `Chain` port on a real (or faked) subtensor, through bittensor 11's async client.

    ``substrate`` replaces the websocket backend (tests pass a fake node); ``signer`` replaces
    the wallet files with any keypair-like object (``ss58_address``, ``public_key``,
    ``crypto_type``, ``sign``).
    """

    def __init__(
        self,
        settings: BittensorSettings,
        *,
        substrate: Any = None,
        signer: Any = None,
    ) -> None:
        self._settings = settings
        self._substrate = substrate
        self._signer = signer
        self._client: Any = None
        self._connecting: asyncio.Lock | None = None
        self._loop = LoopThread(name="bittensor-chain")
        redirect_sdk_files(settings.data_dir)

    # -- the Chain port -----------------------------------------------------------------

    @property
    def signer_hotkey(self) -> str:
        return str(self._hotkey().ss58_address)

    def current_block(self) -> int:
        async def op(client: Any) -> int:
            return int(await client.block())

        return self._read("current_block", op)

    def snapshot(self, netuid: int) -> ChainSnapshot:
        async def op(client: Any) -> ChainSnapshot:
            view = await client.at()
            graph = await view.subnets.metagraph(netuid, commitments=True)
            if graph is None:
                return ChainSnapshot(block=int(view.block))
            neurons = tuple(Neuron(int(n.uid), str(n.hotkey)) for n in graph.neurons)
            found = [*graph.commitments.values(), *graph.unregistered_commitments.values()]
            commitments = sorted((_commitment(c) for c in found), key=lambda c: (c.block, c.hotkey))
            return ChainSnapshot(
                block=int(view.block), neurons=neurons, commitments=tuple(commitments)
            )

        return self._read("snapshot", op)

    def blocks_until_weights_allowed(self, netuid: int, uid: int) -> int:
        async def op(client: Any) -> int:
            view = await client.at()
            rate_limit = await view.query((_SUBTENSOR, "WeightsSetRateLimit"), [netuid])
            last = await view.query((_SUBTENSOR, "LastUpdate"), [netuid])
            if not isinstance(last, list | tuple) or uid >= len(last):
                raise ChainRefused(f"uid {uid} is not on subnet {netuid}", "not_registered")
            return blocks_until_allowed(int(view.block), int(last[uid]), int(rate_limit or 0))

        return self._read("blocks_until_weights_allowed", op)

    def set_weights(
        self, netuid: int, weights: Mapping[int, float], version_key: int
    ) -> WeightSubmission:
        intended = tuple(sorted((int(uid), float(w)) for uid, w in weights.items()))
        signer = self._hotkey()
        try:
            to_u16(weights)  # refuse bad input before touching the chain
        except InvalidWeights as exc:
            return WeightSubmission(
                ok=False,
                netuid=netuid,
                block=self.current_block(),
                version_key=version_key,
                intended=intended,
                error_code="invalid_argument",
                error_message=str(exc),
            )

        async def op(client: Any) -> WeightSubmission:
            bt = _bittensor()
            view = await client.at()
            block = int(view.block)
            limit = await view.query((_SUBTENSOR, "MaxWeightsLimit"), [netuid])
            own_uid = await view.query((_SUBTENSOR, "Uids"), [netuid, signer.ss58_address])
            sent = _expected_vector(bt, intended, limit, own_uid)
            intent = bt.SetWeights(netuid=netuid, weights=dict(intended), version_key=version_key)
            try:
                result = await client.execute(
                    intent, signer, wait_for_inclusion=True, wait_for_finalization=False
                )
            except bt.ChainError as exc:  # refused by the SDK's preflight: nothing was signed
                code = _weight_error_code(exc)
                return WeightSubmission(
                    ok=False,
                    netuid=netuid,
                    block=block,
                    version_key=version_key,
                    intended=intended,
                    error_code=code,
                    error_message=str(exc),
                    retry_in_blocks=(
                        await _retry_in(view, netuid, own_uid) if code == "rate_limited" else None
                    ),
                )
            if result.success:
                return WeightSubmission(
                    ok=True,
                    netuid=netuid,
                    block=block,
                    version_key=version_key,
                    intended=intended,
                    sent=sent,
                    extrinsic_id=result.extrinsic_id,
                )
            return WeightSubmission(
                ok=False,
                netuid=netuid,
                block=block,
                version_key=version_key,
                intended=intended,
                sent=sent,
                extrinsic_id=result.extrinsic_id,
                error_code=_weight_error_code(result.error),
                error_message=result.message,
            )

        return self._call("set_weights", op, self._settings.write_deadline_s)

    def onchain_weights(self, netuid: int, validator_uid: int) -> OnchainWeights:
        async def op(client: Any) -> OnchainWeights:
            view = await client.at()
            row = await view.query((_SUBTENSOR, "Weights"), [netuid, validator_uid])
            pairs = tuple(sorted((int(uid), int(value)) for uid, value in (row or [])))
            return OnchainWeights(netuid, int(view.block), validator_uid, pairs)

        return self._read("onchain_weights", op)

    def commit(self, netuid: int, text: str) -> CommitReceipt:
        signer = self._hotkey()
        fields = raw_fields(text)

        async def op(client: Any) -> CommitReceipt:
            bt = _bittensor()
            call = bt.calls.Commitments.set_commitment(netuid=netuid, info={"fields": fields})
            result = await client.submit_call(
                call, signer, signer="hotkey", wait_for_inclusion=True, wait_for_finalization=False
            )
            if not result.success:
                code = result.error.code.value if result.error is not None else "chain_error"
                raise ChainRefused(f"the chain refused the commitment: {result.message}", code)
            block = _block_of(result.extrinsic_id)
            if block is None:
                block = int(await client.block())
            return CommitReceipt(netuid, signer.ss58_address, block, text, result.extrinsic_id)

        return self._call("commit", op, self._settings.write_deadline_s)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            # closing a dead connection must not mask whatever the caller is handling
            with contextlib.suppress(Exception):
                self._loop.run(client.close(), 5.0)
        self._loop.close()

    # -- internals ---------------------------------------------------------------------

    def _read(self, what: str, op: Callable[[Any], Awaitable[T]]) -> T:
        return self._call(what, op, self._settings.read_deadline_s)

    def _call(self, what: str, op: Callable[[Any], Awaitable[T]], deadline_s: float) -> T:
        bt = _bittensor()

        async def run() -> T:
            return await op(await self._connected())

        try:
            return self._loop.run(run(), deadline_s)
        except TimeoutError as exc:
            self._discard_client()
            raise ChainTimeout(
                f"{what}: {self._settings.network} did not answer within {deadline_s:g} s"
            ) from exc
        except bt.RpcConnectionError as exc:
            self._discard_client()
            raise ChainUnavailable(f"{what}: cannot reach {self._settings.network}: {exc}") from exc
        except bt.ChainError as exc:  # a read the node failed to serve
            raise ChainUnavailable(f"{what}: {self._settings.network} failed: {exc}") from exc
        except (OSError, ConnectionError) as exc:
            raise ChainUnavailable(f"{what}: cannot reach {self._settings.network}: {exc}") from exc

    async def _connected(self) -> Any:
        # Runs on the private loop only, so creating the lock here cannot race.
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._client is None:
                bt = _bittensor()
                subtensor = bt.Subtensor(self._settings.network, substrate=self._substrate)
                self._client = await subtensor  # the async client, connected on our loop
            return self._client

    def _discard_client(self) -> None:
        """Forget a connection that hung or dropped; the next call opens a fresh one."""
        client, self._client = self._client, None
        if client is not None:
            self._loop.spawn(client.close())

    def _hotkey(self) -> Any:
        if self._signer is None:
            self._signer = load_hotkey(self._settings)
        return self._signer


def load_hotkey(settings: BittensorSettings) -> Any:
    """The hotkey keypair, unlocked without ever prompting."""
    bt = _bittensor()
    wallet = bt.Wallet(
        settings.wallet_name, settings.wallet_hotkey, path=str(settings.wallet_path.expanduser())
    )
    keyfile = wallet.hotkey_file
    if not keyfile.exists_on_device():
        raise WalletLocked(
            f"no hotkey file at {keyfile.path} (wallet {settings.wallet_name}, "
            f"hotkey {settings.wallet_hotkey}); check --wallet-name/--wallet-hotkey/--wallet-path"
        )
    password = None
    if keyfile.is_encrypted():
        password = _password(settings)
        if not password:
            raise WalletLocked(
                f"the hotkey {keyfile.path} is encrypted; give its password in "
                "BT_WALLET_PASSWORD or in a file named by BT_WALLET_PASSWORD_FILE"
            )
    try:
        return wallet.get_hotkey(password)
    except Exception as exc:  # wrong password or a damaged keyfile
        raise WalletLocked(f"cannot unlock the hotkey {keyfile.path}: {exc}") from exc


def _password(settings: BittensorSettings) -> str | None:
    if settings.password_file is not None:
        return settings.password_file.expanduser().read_text().strip() or None
    if env := os.environ.get("BT_WALLET_PASSWORD"):
        return env
    if path := os.environ.get("BT_WALLET_PASSWORD_FILE"):
        return Path(path).expanduser().read_text().strip() or None
    return None


def _commitment(c: Any) -> Commitment:
    status: CommitmentStatus = c.status
    block = int(c.block)
    if status == "revealed":
        # The contest dates a timelocked commitment by the block it became readable.
        block = max(int(b) for b, _ in c.revealed if int(b) >= int(c.block))
    return Commitment(hotkey=str(c.hotkey), block=block, text=c.value or "", status=status)


def _expected_vector(
    bt: Any, intended: tuple[tuple[int, float], ...], max_limit: Any, own_uid: Any
) -> tuple[tuple[int, int], ...]:
    """The ``(uid, u16)`` pairs bittensor's `SetWeights` puts in the extrinsic.

    The SDK first clips to the subnet's ``MaxWeightsLimit`` (unless the row is a lone
    self-weight), then max-upscales to u16 and drops zeros; this uses its own functions.
    """
    uids = [uid for uid, _ in intended]
    floats = [w for _, w in intended]
    limit = int(max_limit) if max_limit is not None else U16_MAX
    self_weight = own_uid is not None and uids == [int(own_uid)]
    if limit < U16_MAX and not self_weight:
        floats = bt.intents.weights.clip_to_max_weight(floats, limit / U16_MAX)
    out_uids, values = bt.intents.normalize(uids, floats)
    return tuple(zip((int(u) for u in out_uids), (int(v) for v in values), strict=True))


def _weight_error_code(error: Any) -> WeightErrorCode:
    if error is None:
        return "chain_error"
    if getattr(error, "name", None) == "IncorrectWeightVersionKey":
        return "stale_version_key"
    code = getattr(getattr(error, "code", None), "value", "")
    if code == "rate_limited":
        return "rate_limited"
    if code == "not_registered":
        return "not_registered"
    if code == "invalid_argument":
        return "invalid_argument"
    return "chain_error"


async def _retry_in(view: Any, netuid: int, own_uid: Any) -> int | None:
    if own_uid is None:
        return None
    rate_limit = await view.query((_SUBTENSOR, "WeightsSetRateLimit"), [netuid])
    last = await view.query((_SUBTENSOR, "LastUpdate"), [netuid])
    uid = int(own_uid)
    if not isinstance(last, list | tuple) or uid >= len(last):
        return None
    return blocks_until_allowed(int(view.block), int(last[uid]), int(rate_limit or 0))


def _block_of(extrinsic_id: str | None) -> int | None:
    """The block of an extrinsic id ``"<block>-<index>"``."""
    if not extrinsic_id or "-" not in extrinsic_id:
        return None
    head = extrinsic_id.split("-", 1)[0]
    return int(head) if head.isdigit() else None
