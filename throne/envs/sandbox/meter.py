"""The port the supervisor uses to hold a run's processes, as a whole, under the run-wide caps.

Two adapters: `cgroups.RunGroup` (the kernel holds the memory cap and counts CPU time exactly)
and `procwatch.ProcWatch` (sampled from ``/proc``, where no cgroup can be written).
"""

from __future__ import annotations

from typing import Protocol


class RunMeter(Protocol):
    """Watches one run: every process it starts, counted together."""

    def join(self) -> None:
        """Called in the child before the program's first line: its descendants are counted."""

    def started(self, pid: int) -> None:
        """Called in the supervisor once the child is forked."""

    def exceeded(self) -> str | None:
        """``"memory"`` or ``"cpu"`` once the run as a whole has passed that cap, else None."""

    def interval(self) -> float:
        """Seconds until the next look: shorter as the run nears a cap it is not held under."""

    def drain(self) -> None:
        """After the run is killed: return once none of its processes is left."""

    def close(self) -> None: ...
