"""Terminal output of the read commands: one console, and how numbers and hotkeys are shown."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console

PIPE_WIDTH = 200


def console() -> Console:
    """A console on stdout; when piped, wide enough that table rows do not wrap."""
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=PIPE_WIDTH)
    return out


def print_json(value: Any) -> None:
    print(json.dumps(value, sort_keys=True))


def short(hotkey: str | None, keep: int = 8) -> str:
    if hotkey is None:
        return "-"
    return hotkey if len(hotkey) <= keep + 3 else f"{hotkey[:keep]}..."


def pct(x: float) -> str:
    return f"{x * 100:.2f}"


def env_cell(cell: Mapping[str, Any] | None) -> str:
    """``avg[lower,upper]/n`` in percent for a challenger, ``avg/n`` for the rest, ``-``."""
    if cell is None:
        return "-"
    if cell.get("lower") is None or cell.get("upper") is None:
        return f"{pct(cell['mean'])}/{cell['n']}"
    return f"{pct(cell['mean'])}[{pct(cell['lower'])},{pct(cell['upper'])}]/{cell['n']}"


def opt(value: Any) -> str:
    return "-" if value is None else str(value)


def who(m: Mapping[str, Any]) -> str:
    """``UID u  hk...  model``: how a miner is named on one line."""
    return f"UID {opt(m.get('uid'))}  {short(m.get('hotkey'))}  {opt(m.get('model'))}"


def verdict_line(verdict: Mapping[str, Any] | None) -> str:
    """``reason: SAT 90.00 vs 20.00 /5 dominant, ...`` (challenger vs champion means)."""
    if verdict is None:
        return ""
    parts = [
        f"{env} {pct(v['challenger_mean'])} vs {pct(v['champion_mean'])} /{v['n']} {v['verdict']}"
        for env, v in verdict.get("per_env", {}).items()
    ]
    return f"{verdict.get('reason')}: " + ", ".join(parts) if parts else str(verdict.get("reason"))
