"""Signer URLs: ``unix:///ABSOLUTE/PATH`` (a unix socket, recommended) or ``http://HOST:PORT``.

Parsed without importing the HTTP client, so that reading the settings stays cheap.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: The signer's address when it listens on a unix socket (the host part is never resolved).
_UDS_BASE = "http://signer"


class SignerUrlError(ValueError):
    """A signer URL that is neither ``unix:///ABSOLUTE/PATH`` nor ``http(s)://HOST:PORT``."""


def parse_signer_url(url: str) -> tuple[str, str | None]:
    """``(base URL, unix socket path or None)`` of a signer URL."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise SignerUrlError(f"a unix signer URL is unix:///ABSOLUTE/PATH, got {url!r}")
        return _UDS_BASE, parts.path
    if parts.scheme in ("http", "https") and parts.hostname:
        try:
            parts.port  # noqa: B018 - a port out of range or not a number raises here
        except ValueError as exc:
            raise SignerUrlError(f"bad port in the signer URL {url!r}") from exc
        return url.rstrip("/"), None
    raise SignerUrlError(f"a signer URL is unix:///ABSOLUTE/PATH or http://HOST:PORT, got {url!r}")


def is_signer_url(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        parse_signer_url(text)
    except SignerUrlError:
        return False
    return True
