"""What an exception from the HTTP transport means for a call: a reason, and whether to retry.

The reasons use the client's own words (``connect error``, ``read timeout``...) rather than the
library's class names, so that logs, stored failure details and tests do not change with the
transport underneath.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True)
class TransportFailure:
    reason: str
    retryable: bool


# Most specific first: several of these classes derive from one another.
_KINDS: tuple[tuple[type[BaseException], str, bool], ...] = (
    # A bad URL in our own configuration (or a non-HTTP scheme): trying again cannot help.
    (aiohttp.InvalidURL, "invalid URL", False),
    (aiohttp.ConnectionTimeoutError, "connect timeout", True),
    (aiohttp.SocketTimeoutError, "read timeout", True),
    (aiohttp.ServerTimeoutError, "timeout", True),
    (aiohttp.ClientConnectorError, "connect error", True),
    (aiohttp.ServerDisconnectedError, "connection lost", True),
    (aiohttp.ClientPayloadError, "body cut short", True),
    # A response that does not parse as HTTP: often a proxy or a server restarting.
    (aiohttp.ClientResponseError, "bad response", True),
    (aiohttp.ClientConnectionError, "connection lost", True),
    (aiohttp.ClientError, "HTTP client error", False),
    (TimeoutError, "timeout", True),
    (OSError, "connection lost", True),
)

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, OSError)
"""The exceptions `classify` understands; anything else is a bug, not the far side's doing."""


def classify(exc: BaseException) -> TransportFailure:
    """The reason and retryability of one of `TRANSPORT_ERRORS`."""
    for kind, label, retryable in _KINDS:
        if isinstance(exc, kind):
            # One line, and short: reasons end up in logs and stored failure details.
            detail = " ".join(str(exc).split())[:300]
            reason = f"{label}: {detail}" if detail else label
            return TransportFailure(reason, retryable)
    raise TypeError(f"not a transport error: {exc!r}")
