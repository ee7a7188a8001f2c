"""Read views: JSON-ready dicts shaped from the rows of the read side (`throne.projections`).

Each view takes a `ReadSide`, reads it once (one consistent read, caught up to the log's head)
and shapes what it read; the rules it shows (the queue's order, the weights, a battle's
progress) are the domain's, called by the projections. The CLI prints the views; the status
API serves them.
"""

from throne.views.history import history
from throne.views.miner import miner
from throne.views.rank import rank
from throne.views.weights import weights

__all__ = ["history", "miner", "rank", "weights"]
