"""The bearer token the signer and the daemon share, read from a file only its owner can read.

Whoever holds the token may ask the signer for weights and checkpoint signatures, so a token
that other users can read is refused outright rather than warned about: a signer started on one
would be as open as the file.
"""

from __future__ import annotations

import stat
from pathlib import Path

#: Shorter than this, a token could be guessed; `secrets.token_urlsafe(32)` gives 43 characters.
MIN_TOKEN_CHARS = 16


class TokenFileError(Exception):
    """The token file cannot be used; the message is one line that names the file and the fix."""


def read_token_file(path: Path) -> str:
    """The token in ``path`` (surrounding whitespace stripped), once the file is known to be
    private: a regular file with no permission for group or others."""
    path = Path(path).expanduser()
    try:
        info = path.stat()
    except OSError as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise TokenFileError(f"the token file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise TokenFileError(
            f"the token file {path} is open to group or others (mode {mode:o}): chmod 600 {path}"
        )
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise TokenFileError(f"the token file {path} is not text") from exc
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise TokenFileError(
            f"the token in {path} must be one word of at least {MIN_TOKEN_CHARS} characters "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token
