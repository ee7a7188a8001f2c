"""The task reference line that closes every prompt: ``[task SAT v1 #123]``.

It lets a local miner or an auditor recognise a prompt without an index of all prompts
(`Environment.locate`). It reveals nothing a miner could not compute: tasks are public pure
functions of their id, and what keeps a battle fair is that the pool of ids is secret until it
is drawn (see the contest design), not that ids are hidden inside prompts.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"\[task ([A-Za-z0-9_-]+) v([A-Za-z0-9._-]+) #(\d{1,19})\]\s*\Z")


def tag_line(env: str, version: str, task_id: int) -> str:
    return f"[task {env} v{version} #{task_id}]"


def parse_tag(prompt: str) -> tuple[str, str, int] | None:
    """``(env, version, task_id)`` from a prompt's last line, or None."""
    m = _TAG.search(prompt[-80:])
    if m is None:
        return None
    return m.group(1), m.group(2), int(m.group(3))
