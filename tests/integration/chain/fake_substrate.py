"""A test double of a subtensor node, plugged into the real SDK with `Subtensor(substrate=...)`.

It answers the reads bittensor 11 makes for a metagraph, commitments and weights, and applies
the extrinsics the chain adapter sends (`set_mechanism_weights`, `set_commitment`,
`burned_register`) with the checks the real pallet makes: registration, version key, rate
limit, valid uids. Every extrinsic is included in a new block. Reads pinned to a past block
see the state as it was then. Values come back decoded, as the real transport returns them
(Raw commitment fields as 0x-hex). There is no SCALE codec: `compose` returns the call as is,
so tests can look at the exact u16s the SDK put in it.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from bittensor import Balance, ChainError, ExtrinsicResult


@dataclass
class Subnet:
    hotkeys: list[str] = field(default_factory=list)
    registered_at: list[int] = field(default_factory=list)
    last_update: list[int] = field(default_factory=list)
    weights: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    commitments: dict[str, dict[str, Any]] = field(default_factory=dict)
    revealed: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    rate_limit: int = 100
    version_key: int = 0
    max_weights_limit: int = 65535
    min_allowed_weights: int = 0
    max_uids: int = 256


class FakeSubstrate:
    """In-memory subtensor: subnets, blocks, extrinsics; optionally hung or failing."""

    def __init__(self, block: int = 1000) -> None:
        self.block = block
        self.subnets: dict[int, Subnet] = {}
        self.token_symbols: dict[int, str] = {}
        self.submitted: list[tuple[Any, str]] = []
        self.hung = False
        self.fail_next: str | None = None
        self._history: dict[int, dict[int, Subnet]] = {}
        self._remember()

    # -- test controls -------------------------------------------------------------------

    def subnet(self, netuid: int) -> Subnet:
        return self.subnets.setdefault(netuid, Subnet())

    def register(self, netuid: int, hotkey: str) -> int:
        """Register at the next block, as `burned_register` would."""
        self.block += 1
        uid = self._register(netuid, hotkey)
        self._remember()
        return uid

    def advance(self, blocks: int) -> None:
        self.block += blocks

    def put_commitment(
        self, netuid: int, hotkey: str, fields: list[Any], *, block: int | None = None
    ) -> None:
        """Store a decoded `CommitmentOf` entry directly (fields as the node returns them)."""
        record = {"block": self.block if block is None else block, "deposit": 0}
        record["info"] = {"fields": fields}
        self.subnet(netuid).commitments[hotkey] = record
        self._remember()

    def configure(self, netuid: int, **limits: int) -> None:
        sub = self.subnet(netuid)
        for name, value in limits.items():
            setattr(sub, name, value)
        self._remember()

    # -- Substrate: state and lifecycle ----------------------------------------------------

    def balance(self, rao: int, netuid: int = 0) -> Balance:
        return Balance(int(rao), netuid, self.token_symbols.get(netuid) if netuid else None)

    async def connect(self) -> None:
        await self._gate()

    async def close(self) -> None:
        return None

    # -- Substrate: blocks -----------------------------------------------------------------

    async def block_hash(self, block: int | None = None) -> str:
        await self._gate()
        return "0x" + (self.block if block is None else block).to_bytes(32, "big").hex()

    async def block_number(self) -> int:
        await self._gate()
        return self.block

    async def finalized_block_number(self) -> int:
        await self._gate()
        return self.block

    async def block_time(self) -> float:
        return 12.0

    async def spec_version(self) -> int:
        return 1

    async def constant(self, module: str, name: str) -> Any:
        await self._gate()
        if (module, name) == ("Aura", "SlotDuration"):
            return 12000
        raise AssertionError(f"the fake node has no constant {module}.{name}")

    # -- Substrate: storage ----------------------------------------------------------------

    async def query(
        self, module: str, fn: str, params: list[Any] | None = None, block_hash: str | None = None
    ) -> Any:
        await self._gate()
        subnets = self._at(block_hash)
        params = list(params or [])
        if module == "MevShield":
            return None
        netuid = int(params[0]) if params else None
        sub = subnets.get(netuid) if netuid is not None else None
        if module != "SubtensorModule":
            raise AssertionError(f"the fake node has no storage {module}.{fn}")
        if sub is None:
            return None
        if fn == "Uids":
            hk = params[1]
            return sub.hotkeys.index(hk) if hk in sub.hotkeys else None
        if fn == "LastUpdate":
            return list(sub.last_update)
        if fn == "Weights":
            return list(sub.weights.get(int(params[1]), []))
        if fn == "WeightsSetRateLimit":
            return sub.rate_limit
        if fn == "WeightsVersionKey":
            return sub.version_key
        if fn == "MaxWeightsLimit":
            return sub.max_weights_limit
        if fn == "MinAllowedWeights":
            return sub.min_allowed_weights
        if fn in ("CommitRevealWeightsEnabled", "SubnetEpochConsensus"):
            return None
        raise AssertionError(f"the fake node has no storage {module}.{fn}")

    async def query_map(
        self, module: str, fn: str, params: list[Any] | None = None, block_hash: str | None = None
    ) -> list[tuple[Any, Any]]:
        await self._gate()
        subnets = self._at(block_hash)
        params = list(params or [])
        if (module, fn) == ("SubtensorModule", "TokenSymbol"):
            return []
        sub = subnets.get(int(params[0])) if params else None
        if sub is None:
            return []
        if (module, fn) == ("Commitments", "CommitmentOf"):
            return [(hk, copy.deepcopy(rec)) for hk, rec in sub.commitments.items()]
        if (module, fn) == ("Commitments", "RevealedCommitments"):
            return [(hk, list(entries)) for hk, entries in sub.revealed.items()]
        if (module, fn) == ("SubtensorModule", "Uids"):
            return [(hk, uid) for uid, hk in enumerate(sub.hotkeys)]
        if (module, fn) == ("SubtensorModule", "Weights"):
            return [(uid, list(row)) for uid, row in sorted(sub.weights.items())]
        raise AssertionError(f"the fake node has no storage map {module}.{fn}")

    async def query_batch(
        self,
        module: str,
        fn: str,
        param_sets: list[list[Any]],
        block_hash: str | None = None,
    ) -> list[Any]:
        return [await self.query(module, fn, p, block_hash) for p in param_sets]

    async def runtime_call(
        self, api: str, method: str, params: list[Any], block_hash: str | None = None
    ) -> Any:
        await self._gate()
        if (api, method) != ("SubnetInfoRuntimeApi", "get_metagraph"):
            raise AssertionError(f"the fake node has no runtime call {api}.{method}")
        block = self._block_of(block_hash)
        sub = self._at(block_hash).get(int(params[0]))
        if sub is None:
            return None
        n = len(sub.hotkeys)
        return {
            "netuid": int(params[0]),
            "block": block,
            "tempo": 360,
            "last_step": 0,
            "blocks_since_last_step": 0,
            "owner_hotkey": sub.hotkeys[0] if n else "",
            "owner_coldkey": "",
            "network_registered_at": 0,
            "num_uids": n,
            "max_uids": sub.max_uids,
            "hotkeys": list(sub.hotkeys),
            "coldkeys": [f"cold-{hk}" for hk in sub.hotkeys],
            "active": [True] * n,
            "validator_permit": [True] * n,
            "last_update": list(sub.last_update),
            "block_at_registration": list(sub.registered_at),
            "axons": [None] * n,
        }

    # -- Substrate: calls and writes -------------------------------------------------------

    async def compose(self, call: Any) -> Any:
        await self._gate()
        return call

    async def estimate_fee(self, call: Any, keypair: Any) -> Balance:
        return Balance.from_rao(0)

    async def account_next_index(self, address: str) -> int:
        return 0

    async def mev_next_key(self) -> bytes | None:
        return None

    async def submit(
        self,
        call: Any,
        keypair: Any,
        *,
        nonce: int | None = None,
        period: int | None = None,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        await self._gate()
        signer = str(keypair.ss58_address)
        self.submitted.append((call, signer))
        self.block += 1  # included in the next block
        module, function, params = call
        if self.fail_next is not None:
            name, self.fail_next = self.fail_next, None
            return self._failed(name)
        apply = {
            ("SubtensorModule", "set_mechanism_weights"): self._set_weights,
            ("Commitments", "set_commitment"): self._set_commitment,
            ("SubtensorModule", "burned_register"): self._burned_register,
        }.get((module, function))
        if apply is None:
            return self._failed("CallFiltered")
        error = apply(signer, params)
        if error is not None:
            return self._failed(error)
        self._remember()
        return ExtrinsicResult(
            success=True,
            message="Success",
            block_hash=await self.block_hash(self.block),
            extrinsic_id=f"{self.block}-0001",
        )

    # -- internals -----------------------------------------------------------------------

    def _set_weights(self, signer: str, p: dict[str, Any]) -> str | None:
        sub = self.subnets.get(int(p["netuid"]))
        if sub is None or signer not in sub.hotkeys:
            return "HotKeyNotRegisteredInSubNet"
        uid = sub.hotkeys.index(signer)
        if sub.version_key and int(p["version_key"]) < sub.version_key:
            return "IncorrectWeightVersionKey"
        last = sub.last_update[uid]
        if sub.rate_limit and last > 0 and self.block - last < sub.rate_limit:
            return "SettingWeightsTooFast"
        dests, values = list(p["dests"]), list(p["weights"])
        if len(dests) != len(values):
            return "WeightVecNotEqualSize"
        if len(set(dests)) != len(dests):
            return "DuplicateUids"
        if any(not 0 <= d < len(sub.hotkeys) for d in dests):
            return "UidVecContainInvalidOne"
        if any(not 0 <= v <= 65535 for v in values):
            return "BadRequest"
        sub.weights[uid] = [(int(d), int(v)) for d, v in zip(dests, values, strict=True)]
        sub.last_update[uid] = self.block
        return None

    def _set_commitment(self, signer: str, p: dict[str, Any]) -> str | None:
        sub = self.subnets.get(int(p["netuid"]))
        if sub is None or signer not in sub.hotkeys:
            return "AccountNotAllowedCommit"
        fields = []
        for entry in p["info"]["fields"]:
            ((variant, value),) = entry.items()
            data = bytes(value)
            if not variant.startswith("Raw") or int(variant[3:]) != len(data) or len(data) > 128:
                return "BadRequest"
            fields.append({variant: "0x" + data.hex()})
        sub.commitments[signer] = {"block": self.block, "deposit": 0, "info": {"fields": fields}}
        return None

    def _burned_register(self, signer: str, p: dict[str, Any]) -> str | None:
        hotkey = str(p["hotkey"])
        if hotkey in self.subnet(int(p["netuid"])).hotkeys:
            return "HotKeyAlreadyRegisteredInSubNet"
        self._register(int(p["netuid"]), hotkey)
        return None

    def _register(self, netuid: int, hotkey: str) -> int:
        sub = self.subnet(netuid)
        if hotkey in sub.hotkeys:
            raise AssertionError(f"{hotkey} is already registered")
        if len(sub.hotkeys) < sub.max_uids:
            sub.hotkeys.append(hotkey)
            sub.registered_at.append(self.block)
            sub.last_update.append(self.block)
            return len(sub.hotkeys) - 1
        uid = min(range(len(sub.hotkeys)), key=lambda u: (sub.registered_at[u], u))
        sub.hotkeys[uid] = hotkey
        sub.registered_at[uid] = self.block
        sub.last_update[uid] = self.block
        sub.weights.pop(uid, None)
        return uid

    def _failed(self, name: str) -> ExtrinsicResult:
        self._remember()
        return ExtrinsicResult(success=False, message=name, error=ChainError(name, name))

    def _remember(self) -> None:
        self._history[self.block] = copy.deepcopy(self.subnets)

    def _block_of(self, block_hash: str | None) -> int:
        return self.block if block_hash is None else int(block_hash, 16)

    def _at(self, block_hash: str | None) -> dict[int, Subnet]:
        if block_hash is None:
            return self.subnets
        block = int(block_hash, 16)
        known = [b for b in self._history if b <= block]
        return self._history[max(known)] if known else {}

    async def _gate(self) -> None:
        if self.hung:  # a node that accepted the connection and never answers
            await asyncio.Event().wait()
