"""Pulling the answer out of a chat response: think blocks, ``<INPUT>`` and ``<answer>`` tags,
code fences."""

from __future__ import annotations

import re

_THINK = re.compile(r"<think>.*?</think>|<thinking>.*?</thinking>", re.DOTALL | re.IGNORECASE)
_INPUT = re.compile(r"<INPUT>(.*?)</INPUT>", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)


def strip_think(text: str) -> str:
    """Drop ``<think>…</think>`` and ``<thinking>…</thinking>`` blocks (reasoning, not answer)."""
    return _THINK.sub("", text)


def extract_input(response: str) -> str | None:
    """The last ``<INPUT>…</INPUT>`` block, lines right-stripped, trailing blank lines dropped.

    None when there is no block at all.
    """
    blocks = _INPUT.findall(strip_think(response))
    if not blocks:
        return None
    lines = [line.rstrip() for line in blocks[-1].strip().split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def extract_answer(response: str) -> str | None:
    """The last ``<answer>…</answer>`` block outside think blocks, stripped; None when there is
    none."""
    blocks = _ANSWER.findall(strip_think(response))
    return str(blocks[-1]).strip() if blocks else None


def extract_code(response: str) -> str:
    """The program in a response: the last ```` ```python ```` fence, else the last fence with a
    language, else the first bare fence, else the whole text; stripped."""
    text = strip_think(response)
    fences = _FENCE.findall(text)
    python = [body for lang, body in fences if lang.lower() in ("python", "python3", "py")]
    if python:
        return str(python[-1]).strip()
    tagged = [body for lang, body in fences if lang]
    if tagged:
        return str(tagged[-1]).strip()
    if fences:
        return str(fences[0][1]).strip()
    return text.strip()
