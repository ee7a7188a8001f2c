"""Read models folded from the log: weights, standings, audit trail."""

from throne.projections.audit import AuditProjection
from throne.projections.base import Projection
from throne.projections.standings import StandingsProjection
from throne.projections.weights import WeightsProjection

__all__ = ["AuditProjection", "StandingsProjection", "WeightsProjection", "all_projections"]


def all_projections(prefix: str = "") -> list[Projection]:
    """One of each read model, on tables named with ``prefix``."""
    return [WeightsProjection(prefix), StandingsProjection(prefix), AuditProjection(prefix)]
