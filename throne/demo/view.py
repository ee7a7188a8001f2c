"""The demo's live terminal view: the battle in progress, the queue and what just happened."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from throne.app import Services
from throne.views.standings import standings


def _short(hotkey: str | None) -> str:
    return "-" if hotkey is None else hotkey


def deployment_lines(deployments: list[dict[str, Any]]) -> list[str]:
    """One line per deployment: who was deployed in which role, how long it took to be ready,
    and whether (and why) it was torn down."""
    lines = []
    for d in deployments:
        end = f"torn down ({d['reason']})" if d["torn_down"] else "serving"
        lines.append(
            f"deployed {d['hotkey']} ({d['model']}@{d['revision'][:7]}) as {d['role']}: "
            f"ready in {d['ready_s']:.1f} s, {end}"
        )
    return lines


def render(services: Services, elapsed: float) -> Group:
    with services.reads.read() as r:
        std = standings(r.standings())
    state = services.daemon.state
    champ = std["champion"]
    head = Text.assemble(
        ("block ", "dim"),
        (str(state.synced_block), "bold"),
        ("   champion ", "dim"),
        (_short(champ and champ["hotkey"]), "bold green"),
        (f" (uid {champ['uid']}, since block {champ['since_block']})" if champ else "", "dim"),
        (f"   {elapsed:5.1f}s", "dim"),
    )
    parts: list[Any] = [head]
    battle = std["battle"]
    if battle is not None:
        t = Table(
            title=f"battle: {battle['hotkey']} (uid {battle['uid']}) vs champion", expand=True
        )
        for col in ("env", "common/needed", "challenger", "champion", "not-worse", "dominant"):
            t.add_column(col, justify="right" if col != "env" else "left")
        for env, p in battle["progress"].items():
            t.add_row(
                env,
                f"{p['common']}/{p['needed']}",
                f"{p['challenger_mean']:.2%}",
                f"{p['champion_mean']:.2%}",
                f"{p['not_worse_threshold']:.2%}",
                f"{p['dominant_threshold']:.2%}",
            )
        parts.append(t)
    else:
        parts.append(Text("no battle in progress", style="dim"))
    q = Table(title="queue", expand=True)
    q.add_column("#", justify="right")
    q.add_column("hotkey")
    q.add_column("uid", justify="right")
    q.add_column("first block", justify="right")
    for m in std["queue"]:
        q.add_row(str(m["position"]), m["hotkey"], str(m["uid"]), str(m["first_block"]))
    parts.append(q)
    if services.hosting is not None:
        shown = deployment_lines(services.hosting.deployments()[-6:]) or ["-"]
        parts.append(Panel("\n".join(shown), title="deployments"))
    steps = "\n".join(f"block {b}: {s}" for b, s in list(state.steps)[-6:]) or "-"
    stats = services.sampler.stats
    parts.append(
        Panel(
            f"{steps}\n\nsamples recorded {stats.recorded}, outcomes {stats.by_outcome}",
            title="recent steps",
        )
    )
    return Group(*parts)
