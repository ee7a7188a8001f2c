"""The one read side: read models folded from the log, and the reader every read goes through.

`ReadSide` (``read_side``) reads the standings, the history and the weight submissions at the
log's head; the daemon keeps the projections in the log's database (`all_projections`).
"""

from throne.projections.base import Projection
from throne.projections.decisions import DecisionsProjection
from throne.projections.history import HistoryProjection
from throne.projections.read_side import Reading, ReadSide
from throne.projections.samples import SamplesProjection
from throne.projections.standings import StandingsProjection
from throne.projections.weights import WeightsProjection

__all__ = [
    "DecisionsProjection",
    "HistoryProjection",
    "ReadSide",
    "Reading",
    "SamplesProjection",
    "StandingsProjection",
    "WeightsProjection",
    "all_projections",
]


def all_projections(netuid: int, prefix: str = "") -> list[Projection]:
    """One of each read model of the contest on ``netuid``, on tables named with ``prefix``."""
    return [
        StandingsProjection(netuid, prefix),
        HistoryProjection(netuid, prefix),
        WeightsProjection(netuid, prefix),
        SamplesProjection(netuid, prefix),
        DecisionsProjection(netuid, prefix),
    ]
