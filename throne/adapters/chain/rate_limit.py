"""The weights rate limit as subtensor applies it."""

from __future__ import annotations


def blocks_until_allowed(block: int, last_update: int, rate_limit: int) -> int:
    """Blocks left before a uid that last set weights at ``last_update`` may set them again.

    The chain allows a set once ``block - last_update >= rate_limit``; a uid that never set
    weights (``last_update`` 0) or a subnet without a limit is never held back.
    """
    if rate_limit <= 0 or last_update <= 0:
        return 0
    return max(0, rate_limit - (block - last_update))
