"""Replay the contest from its events and recompute what the validator claimed.

Fed every event in log order (from an export or straight from a database), :class:`ContestReplay`
rebuilds each aggregate with the domain's own event classes and checks:

- every verdict (``Dethroned``, and ``Terminated`` with a verdict) equals the domain's
  ``judge_battle`` re-run on the ``SampleScored`` events of both scorecards up to the versions
  the decision recorded, under the rule in force (which must have decided on them). Verdicts
  are read as the domain decodes them, so those stored as plain dicts (before verdicts were
  records) and those stored as records are checked alike;
- every ``WeightsSet`` carries the weights of the contest version it names, and exactly the
  ``u16`` vector the chain adapters derive from them (``throne.domain.contest.weights.to_u16``);
- every retired pool's seed hashes to its published commitment and derives its task ids. A
  pool exported without its seed may be retired before its seed is revealed (an export appended
  to later reveals it in a checkpoint: see :meth:`ContestReplay.reveal`); by the end of the log
  every retired pool's seed must have been checked.

Samples take a fast path (their payload is read as JSON, not decoded into event objects): they
are most of the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper

from throne.audit.format import AuditError, canonical_json
from throne.audit.records import ExportedEvent
from throne.audit.stored import to_stored
from throne.domain.contest.battle import judge_battle
from throne.domain.contest.contest import Contest
from throne.domain.contest.ledger import WeightLedger
from throne.domain.contest.pool import pool_task_ids, seed_commitment
from throne.domain.contest.rules import Verdict
from throne.domain.contest.scorecard import Scorecard
from throne.domain.contest.state import DecisionInputs
from throne.domain.contest.weights import to_u16

SAMPLE_TOPIC = Scorecard.SampleScored.TOPIC
WEIGHTS_TOPIC = WeightLedger.WeightsSet.TOPIC
POOL_TOPIC = Contest.PoolRefreshed.TOPIC
DETHRONED_TOPIC = Contest.Dethroned.TOPIC
TERMINATED_TOPIC = Contest.Terminated.TOPIC


def is_weight_submission(topic: str, _payload: Mapping[str, Any]) -> bool:
    """Checkpoint predicate of the export: sign the head after every weight submission."""
    return topic == WEIGHTS_TOPIC


@dataclass
class ReplaySummary:
    events: int = 0
    samples: int = 0
    verdicts_checked: int = 0
    weights_checked: int = 0
    pools_checked: int = 0
    pools_unrevealed: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    #: the subnet of the (first) contest in the log
    netuid: int | None = None
    #: the last weight submission the log records as landed on chain:
    #: ``{"netuid", "block", "id", "u16": [[uid, value], ...]}``
    last_landed: dict[str, Any] | None = None


# One scorecard's results in one env: task id -> (scorecard version, score); first result wins.
_Results = dict[int, tuple[int, float]]
# (pool, hotkey, revision, env) -> results: one flat map, one lookup per sample.
ResultsByKey = dict[tuple[Any, Any, Any, Any], _Results]
# (pool, hotkey, revision) -> the last scorecard version a sample of it carried.
Reached = dict[tuple[Any, Any, Any], int]
_NUMBERS = (int, float)


class SampleResults:
    """The results ``SampleScored`` events record, reduced as they arrive in log order.

    Samples are most of the log, so their payloads are read as parsed, not decoded into event
    objects; an infrastructure failure is counted but is no result."""

    __slots__ = ("by_key", "count", "reached")

    def __init__(self) -> None:
        self.by_key: ResultsByKey = {}
        self.count = 0
        # What a decision may claim to have read: no scorecard version the log has not reached.
        self.reached: Reached = {}

    def add(self, event: ExportedEvent) -> None:
        p = event.payload
        try:
            key = (p["pool"], p["hotkey"], p["revision"], p["env"])
            task, score, outcome = p["task_id"], p["score"], p["outcome"]
            if type(task) is not int or type(score) not in _NUMBERS:
                raise TypeError("task_id must be an integer and score a number")
            results = self.by_key.get(key)
        except (KeyError, TypeError) as exc:
            raise AuditError(
                "replay-failed", f"malformed SampleScored at id {event.id}: {exc!r}"
            ) from None
        self.count += 1
        card = key[:3]
        if event.version > self.reached.get(card, 0):
            self.reached[card] = event.version
        if outcome == "infra_error":
            return
        if results is None:
            results = self.by_key[key] = {}
        if task not in results:
            results[task] = (event.version, score)

    def forget_pools_before(self, pool: int) -> None:
        """Drop the results of retired pools: no decision reads them again."""

        def current(key: tuple[Any, ...]) -> bool:
            return not (isinstance(key[0], int) and key[0] < pool)

        self.by_key = {key: results for key, results in self.by_key.items() if current(key)}
        self.reached = {card: v for card, v in self.reached.items() if current(card)}

    def extend(self, later: ResultsByKey, count: int, reached: Reached) -> None:
        """Add the reduced results of ``count`` samples that come after all those seen."""
        self.count += count
        for card, version in reached.items():
            if version > self.reached.get(card, 0):
                self.reached[card] = version
        by_key = self.by_key
        for key, results in later.items():
            mine = by_key.get(key)
            if mine is None:
                by_key[key] = results
            else:
                for task, result in results.items():
                    if task not in mine:
                        mine[task] = result


class ContestReplay:
    """Callable on each event in order; raises :class:`AuditError` at the first mismatch."""

    def __init__(self, mapper: Mapper[UUID]) -> None:
        self._mapper = mapper
        self.summary = ReplaySummary()
        self._aggregates: dict[str, Any] = {}
        self._samples = SampleResults()
        self._add_sample = self._samples.add
        self._weights_by_version: dict[tuple[str, int], dict[str, float]] = {}
        self._contest_of_netuid: dict[int, str] = {}
        self._open_pools: dict[str, dict[str, Any]] = {}
        # Pools written without their seed and not revealed yet, by PoolRefreshed id; each
        # marked "_retired" once a later pool of its contest replaces it.
        self._withheld: dict[int, dict[str, Any]] = {}
        self._revealed: set[int] = set()

    # ---- feeding ----------------------------------------------------------------------------

    def __call__(self, event: ExportedEvent) -> None:
        self.summary.events += 1
        if event.topic == SAMPLE_TOPIC:
            self._add_sample(event)
            return
        domain_event = self._decode(event)
        aggregate = self._aggregates.get(event.originator)
        if isinstance(aggregate, Contest) or event.topic.startswith("throne:Contest."):
            self._before_contest_event(event, domain_event, aggregate)
        elif event.topic == WEIGHTS_TOPIC:
            self._check_weights(event)
        try:
            self._aggregates[event.originator] = domain_event.mutate(aggregate)
        except Exception as exc:
            raise AuditError(
                "replay-failed",
                f"{event.topic} at id {event.id} does not apply to its aggregate: {exc}",
            ) from exc
        after = self._aggregates[event.originator]
        if isinstance(after, Contest):
            self._contest_of_netuid[after.netuid] = event.originator
            self._weights_by_version[(event.originator, after.version)] = {
                str(uid): float(w) for uid, w in sorted(after.weights().items())
            }

    @property
    def pools_held(self) -> set[Any]:
        """The pools whose sample results the replay still holds."""
        return {key[0] for key in self._samples.by_key}

    def add_samples(self, later: ResultsByKey, count: int, reached: Reached) -> None:
        """Take ``count`` samples already reduced elsewhere (see :class:`SampleResults`) that
        come next in the log, as if each had been fed in order."""
        self._samples.extend(later, count, reached)
        self.summary.events += count

    def reveal(self, pool_id: int, seed_hex: str) -> None:
        """Take the seed that a later record reveals for the pool drawn at ``pool_id``, which
        was written without it, and check it now."""
        pool = self._withheld.pop(pool_id, None)
        if pool is None:
            what = (
                "was revealed already"
                if pool_id in self._revealed
                else "is not a PoolRefreshed written without its seed"
            )
            raise AuditError("pool-mismatch", f"a seed is revealed for id {pool_id}, which {what}")
        self._revealed.add(pool_id)
        pool["seed"] = seed_hex
        self._check_pool(pool)
        pool["_checked"] = True

    def finish(self) -> ReplaySummary:
        self.summary.samples = self._samples.count
        self.summary.netuid = next(iter(self._contest_of_netuid), None)
        for pool_id in sorted(self._withheld):
            if self._withheld[pool_id].get("_retired"):
                self._check_pool(self._withheld[pool_id])  # raises: never revealed
        for pool in self._open_pools.values():
            if pool.get("_checked"):
                continue
            if pool.get("seed"):
                self._check_pool(pool)
            else:
                self.summary.pools_unrevealed += 1
        return self.summary

    # ---- what it rebuilt ----------------------------------------------------------------------

    def contest(self, netuid: int) -> Contest | None:
        """The contest of ``netuid`` as replayed so far."""
        found = self._aggregates.get(self._contest_of_netuid.get(netuid, ""))
        return found if isinstance(found, Contest) else None

    def weights_at(self, netuid: int, version: int) -> dict[str, float] | None:
        """The weights the contest of ``netuid`` gave at ``version``, by uid (None if the log
        never reached it)."""
        contest_id = self._contest_of_netuid.get(netuid)
        return None if contest_id is None else self._weights_by_version.get((contest_id, version))

    # ---- decoding -----------------------------------------------------------------------------

    def _decode(self, event: ExportedEvent) -> Any:
        try:
            return self._mapper.to_domain_event(to_stored(event))
        except Exception as exc:
            raise AuditError(
                "unknown-topic" if "topic" in str(exc).lower() else "replay-failed",
                f"cannot decode {event.topic} at id {event.id}: {exc}",
            ) from exc

    # ---- checks -------------------------------------------------------------------------------

    def _before_contest_event(
        self, event: ExportedEvent, decoded: Any, contest: Contest | None
    ) -> None:
        if event.topic == POOL_TOPIC:
            previous = self._open_pools.get(event.originator)
            if previous is not None:
                self._retire(previous)
            # A battle never spans two pools, so once a pool is retired no verdict reads its
            # samples: forgetting them keeps memory to one pool's samples however long the log.
            # (Keys carry no netuid: with several contests in one log, everything is kept.)
            if len(self._contest_of_netuid) <= 1 and isinstance(event.payload.get("pool"), int):
                self._samples.forget_pools_before(event.payload["pool"])
            settings = contest.config if contest is not None else None
            pool = self._open_pools[event.originator] = {
                **event.payload,
                "_id": event.id,
                "_envs": [] if settings is None else list(settings.envs),
                "_ordered": settings is not None and settings.evidence == "prefix",
            }
            if not pool.get("seed"):
                self._withheld[event.id] = pool
        elif event.topic in (DETHRONED_TOPIC, TERMINATED_TOPIC) and contest is not None:
            decision: Contest.Dethroned | Contest.Terminated = decoded
            if decision.verdict is not None:
                self._check_verdict(event, decision.verdict, decision.inputs, contest)
            name = event.topic.rsplit(".", 1)[-1]
            self.summary.decisions[name] = self.summary.decisions.get(name, 0) + 1

    def _check_verdict(
        self,
        event: ExportedEvent,
        verdict: Verdict,
        inputs: DecisionInputs | None,
        contest: Contest,
    ) -> None:
        where = f"{event.topic.rsplit('.', 1)[-1]} at id {event.id}"
        if contest.champion is None or contest.battle is None or contest.pool is None:
            raise AuditError("verdict-mismatch", f"{where}: a verdict without a battle")
        pool, config = contest.pool, contest.config
        envs = [e.name for e in config.scoring_envs]
        champion = (pool.pool, contest.champion.hotkey, contest.champion.revision)
        challenger = (pool.pool, contest.battle.hotkey, contest.battle.revision)
        if inputs is not None:
            for side, version in (
                (champion, inputs.champion_scorecard_version),
                (challenger, inputs.challenger_scorecard_version),
            ):
                reached = self._samples.reached.get(side, 1)
                if version > reached:
                    raise AuditError(
                        "verdict-mismatch",
                        f"{where}: it read version {version} of the scorecard of {side[1]}, "
                        f"which the log has only reached version {reached} of here",
                    )
        champ_scores = self._scores(
            champion, None if inputs is None else inputs.champion_scorecard_version, envs
        )
        chal_scores = self._scores(
            challenger, None if inputs is None else inputs.challenger_scorecard_version, envs
        )
        judged = judge_battle(champ_scores, chal_scores, pool, config)
        recomputed = judged.verdict.to_dict()
        recorded = verdict.to_dict()
        if canonical_json(recomputed) != canonical_json(recorded):
            raise AuditError(
                "verdict-mismatch",
                f"{where} ({challenger[1]} vs {champion[1]}): recorded "
                f"{_verdict_summary(recorded)}; the rule on the recorded samples gives "
                f"{_verdict_summary(recomputed)}",
            )
        if not judged.final:
            raise AuditError(
                "verdict-mismatch",
                f"{where} ({challenger[1]} vs {champion[1]}): the {config.rule} rule had not "
                f"decided on the recorded samples ({_verdict_summary(recomputed)})",
            )
        winner = recomputed["winner"]
        if (event.topic == DETHRONED_TOPIC) != (winner == "challenger"):
            raise AuditError(
                "verdict-mismatch",
                f"{where}: the verdict's winner is the {winner}, but the log says "
                f"{event.topic.rsplit('.', 1)[-1]}",
            )
        self.summary.verdicts_checked += 1

    def _scores(
        self, key: tuple[int, str, str], version: int | None, envs: list[str]
    ) -> dict[str, dict[int, float]]:
        """A side's scores in ``envs``, as its scorecard held them at ``version``."""
        limit = (1 << 62) if version is None else version
        scores: dict[str, dict[int, float]] = {}
        for env in envs:
            results = self._samples.by_key.get((*key, env), {})
            scores[env] = {t: s for t, (v, s) in results.items() if v <= limit}
        return scores

    def _check_weights(self, event: ExportedEvent) -> None:
        p = event.payload
        where = f"WeightsSet at id {event.id} (block {p.get('block')})"
        contest_id = self._contest_of_netuid.get(int(self._netuid_of_ledger(event)))
        version = int(p["contest_version"])
        expected = (
            None if contest_id is None else self._weights_by_version.get((contest_id, version))
        )
        if expected is None:
            raise AuditError(
                "weights-mismatch",
                f"{where}: computed from contest version {version}, which the log never reached",
            )
        recorded = {str(k): float(v) for k, v in p["weights"].items()}
        if recorded != expected:
            raise AuditError(
                "weights-mismatch",
                f"{where}: recorded weights {recorded}, contest version {version} gives {expected}",
            )
        # A refused submission (rate limit, chain error) may have sent nothing at all.
        nothing_sent = not p.get("ok", True) and not p["u16"]
        problem = None if nothing_sent else _u16_problem(expected, p["u16"])
        if problem:
            raise AuditError("weights-mismatch", f"{where}: {problem}")
        self.summary.weights_checked += 1
        if p.get("ok", True) and p["u16"]:
            self.summary.last_landed = {
                "netuid": int(self._netuid_of_ledger(event)),
                "block": p.get("block"),
                "id": event.id,
                "u16": sorted([int(uid), int(value)] for uid, value in p["u16"]),
            }

    def _netuid_of_ledger(self, event: ExportedEvent) -> int:
        ledger = self._aggregates.get(event.originator)
        if ledger is None:
            raise AuditError("replay-failed", f"WeightsSet at id {event.id} before its ledger")
        return int(ledger.netuid)

    def _retire(self, pool: dict[str, Any]) -> None:
        """Check a pool its successor retires, or leave it to a reveal if it has no seed."""
        if pool.get("_checked"):
            return
        if pool.get("seed"):
            self._check_pool(pool)
        else:
            pool["_retired"] = True

    def _check_pool(self, pool: Mapping[str, Any]) -> None:
        where = f"pool {pool['pool']} (PoolRefreshed at id {pool['_id']})"
        seed_hex = pool.get("seed")
        if not seed_hex:
            raise AuditError("pool-mismatch", f"{where}: retired but its seed was never revealed")
        try:
            seed = bytes.fromhex(seed_hex)
        except (TypeError, ValueError):
            raise AuditError("pool-mismatch", f"{where}: its seed is not hex") from None
        if seed_commitment(seed) != pool["seed_commitment"]:
            raise AuditError(
                "pool-mismatch", f"{where}: the revealed seed does not hash to its commitment"
            )
        for env in pool["_envs"]:
            derived = pool_task_ids(
                seed, env.name, env.pool_size, env.id_range, env.mode, ordered=pool["_ordered"]
            )
            if derived != list(pool["task_ids"].get(env.name, [])):
                raise AuditError(
                    "pool-mismatch",
                    f"{where}: {env.name} task ids {pool['task_ids'].get(env.name)} are not the "
                    f"ones the seed derives ({derived})",
                )
        self.summary.pools_checked += 1


def _verdict_summary(v: Mapping[str, Any]) -> str:
    envs = ", ".join(
        f"{env} {e['verdict']} {e['challenger_mean']:.6g} vs {e['champion_mean']:.6g} (n={e['n']})"
        for env, e in (v.get("per_env") or {}).items()
    )
    return f"{v.get('winner')} ({v.get('reason')}; {envs})"


def _u16_problem(weights: Mapping[str, float], u16: Any) -> str | None:
    """The u16 vector must be exactly what the chain adapters send for these weights."""
    expected = [[uid, value] for uid, value in to_u16({int(k): v for k, v in weights.items()})]
    try:
        sent = [[int(uid), int(value)] for uid, value in u16]
    except (TypeError, ValueError):
        return f"u16 vector is malformed: {u16!r}"
    if sent != expected:
        return f"u16 vector {sent} is not the one weights {dict(weights)} give: {expected}"
    return None


def replay_mapper() -> Mapper[UUID]:
    """The mapper the application writes with (same transcodings), for decoding events."""
    from throne.application import ThroneApplication
    from throne.domain.contest.config import ContestConfig

    app = ThroneApplication(ContestConfig(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    mapper: Mapper[UUID] = app.mapper
    app.close()
    return mapper
