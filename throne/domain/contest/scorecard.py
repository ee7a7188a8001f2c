"""A miner's samples in one pool: a small stream per (pool, miner), so loads stay fast."""

from __future__ import annotations

from typing import Literal, TypedDict
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from throne.domain.contest.samples import Sample, SideScores
from throne.domain.ids import NAMESPACE


class ConflictingSample(ValueError):
    """A second, different result for a (pool, env, task, miner) already scored."""


RecordResult = Literal["accepted", "duplicate"]


class Result(TypedDict):
    """A scored sample as the scorecard keeps it (a plain dict: snapshots of scorecards hold
    hundreds, and stay as cheap to write and read as the events themselves)."""

    score: float
    outcome: str
    latency_ms: int
    prompt_tokens: int
    completion_tokens: int
    response_digest: str


class Scorecard(Aggregate):
    TOPIC = "throne:Scorecard"

    class Created(Aggregate.Created):
        TOPIC = "throne:Scorecard.Created"
        netuid: int
        pool: int
        hotkey: str
        revision: str

    class SampleScored(Aggregate.Event):
        TOPIC = "throne:Scorecard.SampleScored"
        pool: int
        env: str
        task_id: int
        hotkey: str
        revision: str
        score: float
        outcome: str
        latency_ms: int
        prompt_tokens: int
        completion_tokens: int
        response_digest: str
        attempt: int

        def apply(self, card: Scorecard) -> None:
            key = str(self.task_id)
            if self.outcome == "infra_error":
                card.infra.setdefault(self.env, {}).setdefault(key, []).append(self.attempt)
                card.infra_errors += 1
                return
            card.results.setdefault(self.env, {})[key] = {
                "score": self.score,
                "outcome": self.outcome,
                "latency_ms": self.latency_ms,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "response_digest": self.response_digest,
            }

    @staticmethod
    def create_id(netuid: int, pool: int, hotkey: str, revision: str) -> UUID:
        return uuid5(NAMESPACE, f"scorecard:{netuid}:{pool}:{hotkey}:{revision}")

    def __init__(self, netuid: int, pool: int, hotkey: str, revision: str) -> None:
        self.netuid = netuid
        self.pool = pool
        self.hotkey = hotkey
        self.revision = revision
        # env -> str(task_id) -> the sample's fields; JSON keys are strings, so ids are too.
        self.results: dict[str, dict[str, Result]] = {}
        # env -> str(task_id) -> attempts that failed on our side
        self.infra: dict[str, dict[str, list[int]]] = {}
        self.infra_errors = 0

    def record(self, sample: Sample) -> RecordResult:
        """Idempotent: an exact duplicate is ignored, a different result for a scored key raises."""
        sample.check()
        if (sample.pool, sample.hotkey, sample.revision) != (self.pool, self.hotkey, self.revision):
            raise ValueError("sample does not belong to this scorecard")
        key = str(sample.task_id)
        fields = _fields(sample)
        if sample.outcome == "infra_error":
            if key in self.results.get(sample.env, {}):
                return "duplicate"  # a late failure after a result: the result stands
            if sample.attempt in self.infra.get(sample.env, {}).get(key, []):
                return "duplicate"
        else:
            existing = self.results.get(sample.env, {}).get(key)
            if existing is not None:
                if existing == fields:
                    return "duplicate"
                raise ConflictingSample(
                    f"{sample.env}#{sample.task_id} of {sample.hotkey} already scored "
                    f"{existing['score']} ({existing['outcome']})"
                )
        self.trigger_event(
            self.SampleScored,
            pool=sample.pool,
            env=sample.env,
            task_id=sample.task_id,
            hotkey=sample.hotkey,
            revision=sample.revision,
            **fields,
            attempt=sample.attempt,
        )
        return "accepted"

    def scores(self) -> dict[str, dict[int, float]]:
        """Scores by env and task id; model errors count as 0, infra errors do not count."""
        return {
            env: {int(t): float(r["score"]) for t, r in tasks.items()}
            for env, tasks in self.results.items()
        }

    def side(self) -> SideScores:
        return SideScores(
            hotkey=self.hotkey,
            revision=self.revision,
            pool=self.pool,
            scores=self.scores(),
            infra_errors=self.infra_errors,
            version=self.version,
            failures={
                env: {int(t): len(attempts) for t, attempts in tasks.items()}
                for env, tasks in self.infra.items()
            },
        )


def _fields(sample: Sample) -> Result:
    return {
        "score": float(sample.score),
        "outcome": sample.outcome,
        "latency_ms": sample.latency_ms,
        "prompt_tokens": sample.prompt_tokens,
        "completion_tokens": sample.completion_tokens,
        "response_digest": sample.response_digest,
    }


def empty_side(pool: int, hotkey: str, revision: str) -> SideScores:
    """The scores of a miner with no scorecard yet in this pool."""
    return SideScores(hotkey=hotkey, revision=revision, pool=pool)
