"""A progress line for long commands: on a terminal only, rewritten a few times a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_INTERVAL_SECONDS = 0.25


class ProgressLine:
    """``label  45%  (215 of 476 MB)`` on ``stream``, rewritten in place; nothing at all when
    ``stream`` is not a terminal (a pipe, a log file, ``--json``) unless ``enabled`` says so.

    :meth:`update` is cheap enough to call per batch of work; :meth:`close` erases the line."""

    def __init__(
        self,
        label: str,
        *,
        unit: str = "MB",
        scale: float = 1e6,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        self.enabled = self._stream.isatty() if enabled is None else enabled
        self._label = label
        self._unit = unit
        self._scale = scale
        self._next = 0.0
        self._shown = False

    def update(self, done: int, total: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _INTERVAL_SECONDS
        unit = f" {self._unit}" if self._unit else ""
        amount = f"{done / self._scale:,.0f}"
        if total:
            percent = min(100, done * 100 // total)
            amount = f"{percent:3d}%  ({amount} of {total / self._scale:,.0f}{unit})"
        else:
            amount += unit
        self._stream.write(f"\r\x1b[2K{self._label}  {amount}")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()
            self._shown = False

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
