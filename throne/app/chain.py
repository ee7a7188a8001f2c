"""The chain a command or the daemon opens (the embedded local chain or bittensor's), and the
signer: the process that holds the validator's hotkey, and the daemon's way to it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from throne.app.errors import StartupError
from throne.ports.chain import Chain

if TYPE_CHECKING:
    from throne.adapters.chain.bittensor_chain import BittensorSettings
    from throne.adapters.chain.local import ClockMode, LocalChain
    from throne.adapters.signer.client import SignerClient
    from throne.daemon.settings import ValidatorSettings
    from throne.signer.service import Holding


#: the least time a chain write (setting weights) is given before it counts as failed
CHAIN_WRITE_SECONDS = 120.0


@dataclass(frozen=True)
class ChainChoice:
    """Which chain to open and whose key signs on it: what ``[validator]`` or a command's
    chain flags name. ``hotkey`` is the signer on the local chain (None: read only); on a
    bittensor network the wallet's hotkey signs."""

    network: str = "local"
    chain_db: Path = Path(".throne/chain.db")
    hotkey: str | None = None
    wallet_name: str = "default"
    wallet_hotkey: str = "default"
    wallet_path: Path = Path("~/.bittensor/wallets")
    data_dir: Path = Path(".throne")
    timeout_seconds: float = 30.0

    @classmethod
    def of(cls, v: ValidatorSettings) -> ChainChoice:
        return cls(
            network=v.chain,
            chain_db=Path(v.chain_db),
            hotkey=v.hotkey,
            wallet_name=v.wallet_name,
            wallet_hotkey=v.wallet_hotkey,
            wallet_path=Path(v.wallet_path),
            data_dir=Path(v.data_dir),
            timeout_seconds=v.chain_timeout_seconds,
        )


def connect_chain(choice: ChainChoice, *, key: Any = None) -> Chain:
    """The chain ``choice`` names: the embedded local chain, or bittensor's, signing with
    ``key`` instead of the wallet's hotkey when one is given; writes get at least
    `CHAIN_WRITE_SECONDS`."""
    if choice.network == "local":
        return open_local_chain(choice.chain_db, hotkey=choice.hotkey)
    from throne.adapters.chain.bittensor_chain import BittensorChain

    return BittensorChain(bittensor_settings(choice), signer=key)


def bittensor_settings(choice: ChainChoice) -> BittensorSettings:
    from throne.adapters.chain.bittensor_chain import BittensorSettings

    return BittensorSettings(
        network=choice.network,
        wallet_name=choice.wallet_name,
        wallet_hotkey=choice.wallet_hotkey,
        wallet_path=choice.wallet_path,
        data_dir=choice.data_dir,
        read_deadline_s=choice.timeout_seconds,
        write_deadline_s=max(choice.timeout_seconds, CHAIN_WRITE_SECONDS),
    )


def open_chain(v: ValidatorSettings) -> Chain:
    """The validator's chain; a data directory the SDK cannot use names the setting to fix.
    With ``signer_url`` set, weights go through the signer and the wallet is never opened
    (`open_chain_through_signer`)."""
    if v.signer_url:
        return open_chain_through_signer(v)
    try:
        return connect_chain(ChainChoice.of(v))
    except OSError as exc:  # the SDK's caches go under data_dir
        if v.chain == "local":
            raise
        raise StartupError(
            f"cannot use the data directory {v.data_dir}: {exc.strerror}; choose a writable "
            "data_dir"
        ) from exc


def open_local_chain(path: Path, *, hotkey: str | None = None) -> LocalChain:
    """The embedded chain in ``path``, signing as ``hotkey``: the `Chain` of ``--chain local``,
    and what ``throne localnet`` drives beyond the port (registrations, blocks)."""
    from throne.adapters.chain.local import LocalChain

    return LocalChain(path, hotkey=hotkey)


def create_local_chain(
    path: Path,
    *,
    netuid: int,
    start_block: int,
    clock_mode: ClockMode,
    block_time: float,
    weights_rate_limit: int,
    version_key: int,
) -> LocalChain:
    """A new embedded chain in ``path`` with one subnet; refuses to overwrite a file."""
    from throne.adapters.chain.local import LocalChain

    return LocalChain.init(
        path,
        netuid=netuid,
        start_block=start_block,
        clock_mode=clock_mode,
        block_time=block_time,
        weights_rate_limit=weights_rate_limit,
        version_key=version_key,
    )


def open_signer_client(v: ValidatorSettings) -> SignerClient:
    """The client of the signer ``signer_url`` names, with the token of ``signer_token_file``
    (refused, in one line, when others may read it)."""
    from throne.adapters.signer.client import SignerClient
    from throne.adapters.signer.token import TokenFileError, read_token_file

    try:
        token = read_token_file(Path(v.signer_token_file))
    except TokenFileError as exc:
        raise StartupError(str(exc)) from exc
    return SignerClient(
        v.signer_url,
        token,
        timeout=v.signer_timeout_seconds,
        # the signer waits for the chain up to its own write deadline, then answers
        write_timeout=CHAIN_WRITE_SECONDS + v.signer_timeout_seconds,
    )


def open_chain_through_signer(v: ValidatorSettings) -> Chain:
    """The daemon's chain when a signer holds the hotkey: reads from the chain through an
    adapter that holds no key, weights through the signer."""
    from throne.adapters.signer.chain import NoKey, SignerChain

    choice = ChainChoice.of(v)
    client = open_signer_client(v)
    try:
        if choice.network == "local":
            reads: Chain = open_local_chain(choice.chain_db)
        else:
            from throne.adapters.chain.bittensor_chain import BittensorChain

            reads = BittensorChain(bittensor_settings(choice), signer=NoKey())
    except BaseException:
        client.close()
        raise
    return SignerChain(reads, client)


def open_signer_holding(v: ValidatorSettings, key_file: Path | None = None) -> Holding:
    """What ``throne signer`` holds. On a Bittensor network: the wallet's hotkey, which signs
    weights and checkpoints alike (an auditor finds the validator by the export's signer). On
    the local chain, whose hotkeys are names: the chain as ``hotkey``, and the key in
    ``key_file`` (default: the local signing key ``throne audit export`` uses) for checkpoints.
    """
    from throne.signer.service import Holding

    choice = ChainChoice.of(v)
    if choice.network == "local":
        from throne.audit.signing import load_signer

        chain = open_local_chain(choice.chain_db, hotkey=choice.hotkey)
        return Holding(chain, load_signer(key_file), v.netuid, v.chain)
    if key_file is not None:
        raise StartupError(
            "--key is for the local chain: on a Bittensor network the wallet's hotkey signs "
            "the checkpoints too"
        )
    from throne.adapters.chain.bittensor_chain import load_hotkey

    settings = bittensor_settings(choice)
    key = load_hotkey(settings)
    return Holding(connect_chain(choice, key=key), key, v.netuid, v.chain)
