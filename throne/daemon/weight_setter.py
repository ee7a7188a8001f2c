"""Weight submission: every N blocks, once the chain's rate limit allows, the contest's vector."""

from __future__ import annotations

from throne.adapters.chain.port import Chain, WeightSubmission
from throne.application import ThroneApplication


class WeightSetter:
    def __init__(
        self, app: ThroneApplication, chain: Chain, *, netuid: int, interval: int, version_key: int
    ) -> None:
        self._app = app
        self._chain = chain
        self._netuid = netuid
        self._interval = interval
        self._version_key = version_key

    def due(self, block: int) -> bool:
        last = self._app.last_weights_block()
        return last is None or block - last >= self._interval

    def maybe_submit(self, block: int) -> WeightSubmission | None:
        """Submit and record if due and allowed; None when nothing was attempted.

        A validator that is not registered sets nothing (its weights would be refused anyway).
        """
        if not self.due(block):
            return None
        snapshot = self._chain.snapshot(self._netuid)
        uid = snapshot.uid_of(self._chain.signer_hotkey)
        if uid is None:
            return None
        if self._chain.blocks_until_weights_allowed(self._netuid, uid) > 0:
            return None
        version, weights = self._app.weights()
        sub = self._chain.set_weights(self._netuid, weights, self._version_key)
        error = None
        if not sub.ok:
            error = f"{sub.error_code}: {sub.error_message}"
        self._app.record_weights(
            block=sub.block,
            weights=dict(sub.intended),
            u16=list(sub.sent),
            ok=sub.ok,
            extrinsic=sub.extrinsic_id,
            error=error,
            contest_version=version,
        )
        return sub
