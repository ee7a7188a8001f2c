"""The composition root's own failure."""

from __future__ import annotations


class StartupError(Exception):
    """A part the daemon needs cannot be set up; the message is one line that names the fix."""
