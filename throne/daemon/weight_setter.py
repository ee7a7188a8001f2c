"""Weight submission: every N blocks, once the chain's rate limit allows, the contest's vector.

The chain accepts weights before the log records them, so a validator stopped in between leaves
weights on chain that its log does not hold. Before each submission (and once at start) the
setter compares the chain's row with the last submission recorded as landed, and records the
lost one when a contest version it passed through gives exactly that vector.
"""

from __future__ import annotations

import structlog
from eventsourcing.application import AggregateNotFoundError

from throne.application import ThroneApplication
from throne.domain.contest.weights import to_u16
from throne.ports.chain import Chain, WeightSubmission

#: How far back (in contest versions) a lost submission is looked for.
RECOVERY_VERSIONS = 2000
RECOVERED = "recovered: accepted on chain but not recorded (the validator stopped in between)"


class WeightSetter:
    def __init__(
        self, app: ThroneApplication, chain: Chain, *, netuid: int, interval: int, version_key: int
    ) -> None:
        self._app = app
        self._chain = chain
        self._netuid = netuid
        self._interval = interval
        self._version_key = version_key
        self._reconciled = False
        self.log = structlog.get_logger("throne.weights")

    def due(self, block: int) -> bool:
        last = self._app.last_weights_block()
        return last is None or block - last >= self._interval

    def maybe_submit(self, block: int) -> WeightSubmission | None:
        """Submit and record if due and allowed; None when nothing was attempted.

        A validator that is not registered sets nothing (its weights would be refused anyway).
        """
        if self._reconciled and not self.due(block):
            return None
        snapshot = self._chain.snapshot(self._netuid)
        uid = snapshot.uid_of(self._chain.signer_hotkey)
        first, self._reconciled = not self._reconciled, True
        if uid is None:
            return None
        if first:
            self.reconcile(uid, snapshot.block)
            if not self.due(block):
                return None
        if self._chain.blocks_until_weights_allowed(self._netuid, uid) > 0:
            return None
        self.reconcile(uid, snapshot.block)
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

    def reconcile(self, uid: int, block: int) -> bool:
        """Record the submission the chain holds if the log lost it; True when one was.

        The lost submission was computed from a contest version at least as new as the last
        one recorded as landed: the newest such version whose weights give the chain's row
        exactly is the one recorded. Weights on chain that no such version explains are not
        recorded (they are not this log's), only reported."""
        row = sorted(
            [int(u), int(v)] for u, v in self._chain.onchain_weights(self._netuid, uid).weights
        )
        landed = self._app.last_landed_weights()
        if not row or (landed is not None and landed["u16"] == row):
            return False
        current = self._app.contest_version()
        oldest = 1 if landed is None else landed["contest_version"]
        for version in range(current, max(oldest, current - RECOVERY_VERSIONS, 1) - 1, -1):
            try:
                weights = self._app.weights_at(version)
            except AggregateNotFoundError:  # no contest in this log yet
                break
            if sorted(list(p) for p in to_u16(weights)) == row:
                self._app.record_weights(
                    block=block,
                    weights=weights,
                    u16=[(u, v) for u, v in row],
                    ok=True,
                    extrinsic=None,
                    error=RECOVERED,
                    contest_version=version,
                )
                self.log.warning("weights_recovered", block=block, contest_version=version, u16=row)
                return True
        self.log.error(
            "weights_unexplained",
            uid=uid,
            on_chain=row,
            last_recorded=None if landed is None else landed["u16"],
        )
        return False
