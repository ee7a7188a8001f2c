"""The contest's configuration, recorded in the log so that a replay judges by the same rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

from throne.domain.contest.pool import PoolMode, pool_size
from throne.domain.contest.rules import ContestRules, EnvRule
from throne.domain.field_rules import (
    OutOfRange,
    Rule,
    above,
    above_up_to,
    at_least,
    check_fields,
    check_value,
    one_of,
    within,
)

#: A subnet's number on chain is a u16.
NETUID_RANGE = within(0, 65535)

#: How a battle is decided (docs/verdicts.md): every env dominant; N envs dominant and none
#: worse; the seeds' z-scaled epsilon-Pareto rule; a paired group-sequential test.
VerdictRule = Literal["strict", "partial", "pareto", "sequential"]
#: Which tasks a battle compares: the ones both sides happened to score (logs written before
#: pools had an order), or the longest prefix of the pool's seed-derived order both scored.
Evidence = Literal["common", "prefix"]


def valid_id_range(value: Any) -> bool:
    """``[start, stop]`` (a list or a pair) of whole numbers with ``0 <= start < stop``."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return False
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return False
    return bool(0 <= value[0] < value[1])


ID_RANGE = Rule(valid_id_range, "[start, stop] with 0 <= start < stop")


@dataclass(frozen=True)
class EnvConfig:
    """One evaluation env: its id range, how many tasks decide, how its pool is drawn and judged.

    ``scoring=False`` envs are sampled but never vote.
    """

    name: str
    sampling_count: Annotated[int, at_least(1)]
    id_range: Annotated[tuple[int, int], ID_RANGE]
    mode: Annotated[PoolMode, one_of(*get_args(PoolMode))] = "random"
    margin: Annotated[float, at_least(0)] = 0.03
    not_worse_tolerance: Annotated[float, within(0, 1)] = 0.02
    additive: bool = False
    scoring: bool = True

    def __post_init__(self) -> None:
        check_fields(self)

    @property
    def pool_size(self) -> int:
        return pool_size(self.sampling_count)

    def rule(self) -> EnvRule:
        return EnvRule(
            margin=self.margin,
            not_worse_tolerance=self.not_worse_tolerance,
            additive=self.additive,
            min_samples=self.sampling_count,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sampling_count": self.sampling_count,
            "id_range": [self.id_range[0], self.id_range[1]],
            "mode": self.mode,
            "margin": self.margin,
            "not_worse_tolerance": self.not_worse_tolerance,
            "additive": self.additive,
            "scoring": self.scoring,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnvConfig:
        check_value("id_range", d["id_range"], (ID_RANGE,))
        lo, hi = d["id_range"]
        return cls(
            name=str(d["name"]),
            sampling_count=int(d["sampling_count"]),
            id_range=(int(lo), int(hi)),
            mode=d.get("mode", "random"),
            margin=float(d.get("margin", 0.03)),
            not_worse_tolerance=float(d.get("not_worse_tolerance", 0.02)),
            additive=bool(d.get("additive", False)),
            scoring=bool(d.get("scoring", True)),
        )


#: The verdict rules' parameters, each a field of `ContestConfig` recorded in the log.
RULE_PARAMETERS = (
    "sequential_alpha",
    "sequential_looks",
    "sequential_effect",
    "sequential_futility_z",
    "sequential_not_worse_z",
    "pareto_eps_floor",
    "pareto_z_not_worse",
    "pareto_eps_win",
    "pareto_z_win",
)


@dataclass(frozen=True)
class ContestConfig:
    """Every rule of the contest. Block counts are chain blocks (~12 s each)."""

    netuid: Annotated[int, NETUID_RANGE] = 120
    envs: tuple[EnvConfig, ...] = field(default_factory=tuple)
    #: 0 = strict (every scoring env dominant); N > 0 = at least N dominant and none worse.
    min_dominant_envs: Annotated[int, at_least(0)] = 0
    refresh_blocks: Annotated[int, at_least(1)] = 7200
    battle_deadline_blocks: Annotated[int, at_least(1)] = 7200
    #: infrastructure failures tolerated per challenger; the next one terminates it.
    max_releases: Annotated[int, at_least(0)] = 3
    #: infra-error samples of the challenger within one battle that release it.
    release_after_infra_errors: Annotated[int, at_least(1)] = 10
    #: pools the champion may leave incomplete in a row before it abdicates as unservable.
    max_champion_missed_pools: Annotated[int, at_least(1)] = 2
    #: the share of its pool the champion must have scored before a battle starts.
    completeness: Annotated[float, above_up_to(0, 1)] = 0.95
    burn: Annotated[float, within(0, 1)] = 0.0
    model_marker: str = "affine"
    #: None: by ``min_dominant_envs`` (0 strict, N partial), resolved when the record is built
    rule: Annotated[VerdictRule | None, one_of(*get_args(VerdictRule))] = None
    evidence: Annotated[Evidence, one_of(*get_args(Evidence))] = "prefix"
    #: the sequential rule's false-dethrone probability, held across envs
    sequential_alpha: Annotated[float, above_up_to(0, 0.5)] = 0.01
    #: its looks, at k/looks of every env's sampling_count
    sequential_looks: Annotated[int, within(1, 100)] = 10
    #: the improvement futility judges against: a challenger clearly short of it stops early
    sequential_effect: Annotated[float, above(0)] = 0.05
    sequential_futility_z: Annotated[float, at_least(0)] = 2.0
    #: an env is worse when the challenger is below the champion at this many standard errors
    sequential_not_worse_z: Annotated[float, at_least(0)] = 1.645
    pareto_eps_floor: Annotated[float, at_least(0)] = 0.005
    pareto_z_not_worse: Annotated[float, at_least(0)] = 1.28
    pareto_eps_win: Annotated[float, at_least(0)] = 0.015
    pareto_z_win: Annotated[float, at_least(0)] = 0.5

    def __post_init__(self) -> None:
        if self.rule is None:
            object.__setattr__(self, "rule", "partial" if self.min_dominant_envs else "strict")
        check_fields(self)
        names = [e.name for e in self.envs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate env names in {names}")
        if self.rule == "strict" and self.min_dominant_envs != 0:
            raise OutOfRange(
                f"rule strict needs min_dominant_envs = 0 (every env dominant), got "
                f"{self.min_dominant_envs}; rule partial takes N dominant envs"
            )
        if self.rule == "partial" and self.min_dominant_envs < 1:
            raise OutOfRange("rule partial needs min_dominant_envs >= 1 (the N dominant envs)")
        if self.evidence == "common" and self.rule not in ("strict", "partial"):
            raise OutOfRange(
                f"rule {self.rule} compares the pool's ordered prefix: evidence must be prefix"
            )
        voting = len(self.scoring_envs)
        if self.min_dominant_envs > voting:
            raise OutOfRange(
                f"min_dominant_envs must be <= the {voting} scoring env(s), "
                f"got {self.min_dominant_envs}"
            )
        for e in self.envs:
            if e.pool_size > e.id_range[1] - e.id_range[0]:
                raise ValueError(f"{e.name}: pool of {e.pool_size} exceeds id range {e.id_range}")

    @property
    def scoring_envs(self) -> tuple[EnvConfig, ...]:
        return tuple(e for e in self.envs if e.scoring)

    def env(self, name: str) -> EnvConfig:
        for e in self.envs:
            if e.name == name:
                return e
        raise KeyError(name)

    def rules(self) -> ContestRules:
        return ContestRules(
            envs={e.name: e.rule() for e in self.scoring_envs},
            min_dominant_envs=self.min_dominant_envs,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "netuid": self.netuid,
            "envs": [e.to_dict() for e in self.envs],
            "min_dominant_envs": self.min_dominant_envs,
            "refresh_blocks": self.refresh_blocks,
            "battle_deadline_blocks": self.battle_deadline_blocks,
            "max_releases": self.max_releases,
            "release_after_infra_errors": self.release_after_infra_errors,
            "max_champion_missed_pools": self.max_champion_missed_pools,
            "completeness": self.completeness,
            "burn": self.burn,
            "model_marker": self.model_marker,
            "rule": self.rule,
            "evidence": self.evidence,
            **{k: getattr(self, k) for k in RULE_PARAMETERS},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContestConfig:
        """The configuration a log recorded. A log written before verdict rules were named
        holds no ``rule`` or ``evidence``: it was judged by ``min_dominant_envs`` alone (strict
        or partial) on the tasks both sides scored, and replays so."""
        defaults = cls()
        dominant = int(d.get("min_dominant_envs", defaults.min_dominant_envs))
        params = {k: type(getattr(defaults, k))(d[k]) for k in RULE_PARAMETERS if k in d}
        return cls(
            rule=d.get("rule"),
            evidence=d.get("evidence", "common"),
            **params,
            netuid=int(d.get("netuid", defaults.netuid)),
            envs=tuple(EnvConfig.from_dict(e) for e in d.get("envs", ())),
            min_dominant_envs=dominant,
            refresh_blocks=int(d.get("refresh_blocks", defaults.refresh_blocks)),
            battle_deadline_blocks=int(
                d.get("battle_deadline_blocks", defaults.battle_deadline_blocks)
            ),
            max_releases=int(d.get("max_releases", defaults.max_releases)),
            release_after_infra_errors=int(
                d.get("release_after_infra_errors", defaults.release_after_infra_errors)
            ),
            max_champion_missed_pools=int(
                d.get("max_champion_missed_pools", defaults.max_champion_missed_pools)
            ),
            completeness=float(d.get("completeness", defaults.completeness)),
            burn=float(d.get("burn", defaults.burn)),
            model_marker=str(d.get("model_marker", defaults.model_marker)),
        )
