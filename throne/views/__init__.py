"""Read views: pure functions of the application service that return JSON-ready dicts.

They read through `ThroneApplication`'s queries and, where a query does not say enough (reign
history, when a miner was terminated), fold the contest's events: through an index kept per
application (`contest_log`), so a long-lived reader such as the status API decodes each event
once, not on every request. The CLI and the status API print them; neither reaches into
aggregates.
"""

from throne.views.history import history
from throne.views.miner import miner
from throne.views.rank import rank
from throne.views.weights import weights

__all__ = ["history", "miner", "rank", "weights"]
