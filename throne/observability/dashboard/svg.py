"""The dashboard's charts, drawn here as SVG: bars, a histogram, a timeline and step lines.

Drawn on the server, from the numbers the page shows, so a chart needs no script and nothing
from outside the package. Each has a title for assistive technology; marks that lead somewhere
(a battle on the timeline, a submission) are links, reachable with the keyboard. Every mark's
colour is at least 3:1 against the white background (WCAG's rule for graphics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from throne.observability.dashboard.formats import show
from throne.observability.dashboard.html import esc

WIDTH = 800
LEFT, RIGHT = 150, 20
PALETTE = ("#1565c0", "#b34700", "#1b6e20", "#6a1b9a", "#00695c", "#b3261e")
GOOD, BAD, NEUTRAL = "#1b6e20", "#b3261e", "#1565c0"

_ids = count(1)


def _open(title: str, height: int, *, interactive: bool = False) -> str:
    ident = f"chart-{next(_ids)}"
    role = "group" if interactive else "img"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'role="{role}" aria-labelledby="{ident}"><title id="{ident}">{esc(title)}</title>'
    )


def _x(value: float, low: float, high: float) -> float:
    span = high - low or 1.0
    return LEFT + (value - low) / span * (WIDTH - LEFT - RIGHT)


def bars(
    items: Sequence[tuple[str, float]], *, title: str, fmt: str = "weight", top: float | None = None
) -> str:
    """One horizontal bar per (label, value), from 0 to ``top`` (default: the largest)."""
    row = 26
    height = max(1, len(items)) * row + 30
    high = top if top is not None else max([v for _, v in items] + [0.0]) or 1.0
    out = [_open(title, height)]
    for i, (label, value) in enumerate(items):
        y = 10 + i * row
        w = max(0.0, _x(value, 0.0, high) - LEFT)
        out.append(
            f'<text x="{LEFT - 8}" y="{y + 16}" text-anchor="end">{esc(label)}</text>'
            f'<rect x="{LEFT}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{esc(label)}: '
            f"{esc(show(value, fmt))}</title></rect>"
            f'<text x="{LEFT + w + 6:.1f}" y="{y + 16}">{esc(show(value, fmt))}</text>'
        )
    if not items:
        out.append(f'<text x="{LEFT}" y="24">nothing to show</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(
    edges: Sequence[float], counts: Sequence[int], *, title: str, x_label: str, fmt: str
) -> str:
    """Bars of ``counts`` between consecutive ``edges``, labelled below in format ``fmt``."""
    height, bottom, top_pad = 220, 180, 16
    out = [_open(title, height)]
    bins = len(counts)
    most = max([*counts, 1])
    low, high = (edges[0], edges[-1]) if len(edges) > 1 else (0.0, 1.0)
    out.append(f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>')
    out.append(f'<text x="{LEFT - 8}" y="{top_pad + 4}" text-anchor="end">{most}</text>')
    out.append(f'<text x="{LEFT - 8}" y="{bottom}" text-anchor="end">0</text>')
    out.append(
        f'<text x="{LEFT - 8}" y="{(bottom + top_pad) / 2:.0f}" text-anchor="end">samples</text>'
    )
    for i, n in enumerate(counts):
        x0, x1 = _x(edges[i], low, high), _x(edges[i + 1], low, high)
        h = (bottom - top_pad) * n / most
        label = f"{show(edges[i], fmt)} to {show(edges[i + 1], fmt)}: {n}"
        out.append(
            f'<rect x="{x0 + 1:.1f}" y="{bottom - h:.1f}" width="{max(0.0, x1 - x0 - 2):.1f}" '
            f'height="{h:.1f}" fill="{NEUTRAL}"><title>{esc(label)}</title></rect>'
        )
    for i in (0, bins // 2, bins) if bins else ():
        x = _x(edges[i], low, high)
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{esc(show(edges[i], fmt))}</text>"
        )
    out.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{bottom + 34}" text-anchor="middle">'
        f"{esc(x_label)}</text></svg>"
    )
    return "".join(out)


@dataclass(frozen=True)
class Span:
    """A stretch of blocks on a timeline's lane; ``end`` None runs to the chart's end."""

    start: int
    end: int | None
    label: str
    href: str | None = None
    colour: str = NEUTRAL
    #: what the span's tooltip and link say (default: its label)
    detail: str = ""


def timeline(
    lanes: Sequence[tuple[str, Sequence[Span]]], *, title: str, start: int, end: int
) -> str:
    """Lanes of spans over blocks ``start``..``end``; a span with an ``href`` is a link."""
    lane, axis = 44, 30
    height = len(lanes) * lane + axis + 10
    end = max(end, start + 1)
    linked = any(s.href for _, spans in lanes for s in spans)
    out = [_open(title, height, interactive=linked)]
    for i, (name, spans) in enumerate(lanes):
        y = 8 + i * lane
        out.append(f'<text x="{LEFT - 8}" y="{y + 22}" text-anchor="end">{esc(name)}</text>')
        for s in spans:
            x0 = _x(s.start, start, end)
            x1 = _x(end if s.end is None else s.end, start, end)
            tip = f"{s.detail or s.label}: blocks {s.start} to {'now' if s.end is None else s.end}"
            rect = (
                f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(3.0, x1 - x0):.1f}" '
                f'height="{lane - 14}" fill="{s.colour}" stroke="#ffffff" stroke-width="1">'
                f"<title>{esc(tip)}</title></rect>"
            )
            if x1 - x0 > 8 * len(s.label):
                rect += (
                    f'<text x="{x0 + 4:.1f}" y="{y + 22}" fill="#ffffff" style="fill:#fff">'
                    f"{esc(s.label)}</text>"
                )
            if s.href:
                rect = f'<a href="{esc(s.href)}" aria-label="{esc(tip)}">{rect}</a>'
            out.append(rect)
    base = 8 + len(lanes) * lane
    out.append(f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>')
    for b in _ticks(start, end):
        x = _x(b, start, end)
        out.append(
            f'<line class="axis" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 5}"/>'
            f'<text x="{x:.1f}" y="{base + 18}" text-anchor="middle">{b}</text>'
        )
    out.append(f'<text x="{LEFT - 8}" y="{base + 18}" text-anchor="end">block</text></svg>')
    return "".join(out)


@dataclass(frozen=True)
class Mark:
    """A point on the block axis: a submission, landed (``ok``) or not."""

    at: int
    ok: bool
    label: str
    href: str | None = None


def step_lines(
    series: Sequence[tuple[str, Sequence[tuple[int, float]]]],
    marks: Sequence[Mark],
    *,
    title: str,
    start: int,
    end: int,
) -> str:
    """One step line per (name, [(block, value)]) over values 0..1, and below them a row of
    marks (a filled circle for a landed submission, a red cross for a failed one)."""
    top, plot, legend = 14, 160, 22
    height = top + plot + 76 + legend * ((len(series) + 3) // 4)
    end = max(end, start + 1)
    out = [_open(title, height, interactive=any(m.href for m in marks))]
    bottom = top + plot
    for v in (0.0, 0.5, 1.0):
        y = bottom - v * plot
        out.append(
            f'<line class="grid-line" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{show(v, "stat")}</text>'
        )
    for i, (name, points) in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        path = []
        for j, (block, value) in enumerate(points):
            x, y = _x(block, start, end), bottom - value * plot
            path.append(f"H{x:.1f} V{y:.1f}" if j else f"M{x:.1f},{y:.1f}")
        if points:
            path.append(f"H{_x(end, start, end):.1f}")
            out.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2.5">'
                f"<title>{esc(name)}</title></path>"
            )
        lx = LEFT + (i % 4) * 150
        ly = bottom + 74 + (i // 4) * legend
        out.append(
            f'<rect x="{lx}" y="{ly - 10}" width="14" height="4" fill="{colour}"/>'
            f'<text x="{lx + 20}" y="{ly - 4}">{esc(name)}</text>'
        )
    row = bottom + 22
    out.append(f'<text x="{LEFT - 8}" y="{row + 4}" text-anchor="end">submissions</text>')
    for m in marks:
        x = _x(m.at, start, end)
        shape = (
            f'<circle cx="{x:.1f}" cy="{row}" r="5" fill="{GOOD}"><title>{esc(m.label)}</title>'
            "</circle>"
            if m.ok
            else f'<path d="M{x - 5:.1f},{row - 5} l10,10 m0,-10 l-10,10" stroke="{BAD}" '
            f'stroke-width="3"><title>{esc(m.label)}</title></path>'
        )
        if m.href:
            shape = f'<a href="{esc(m.href)}" aria-label="{esc(m.label)}">{shape}</a>'
        out.append(shape)
    out.append(
        f'<line class="axis" x1="{LEFT}" y1="{row + 14}" x2="{WIDTH - RIGHT}" y2="{row + 14}"/>'
    )
    for b in _ticks(start, end):
        x = _x(b, start, end)
        out.append(f'<text x="{x:.1f}" y="{row + 30}" text-anchor="middle">{b}</text>')
    out.append("</svg>")
    return "".join(out)


def _ticks(start: int, end: int, most: int = 6) -> list[int]:
    """Round block numbers between ``start`` and ``end``, at most ``most`` + 1 of them."""
    span = max(1, end - start)
    step = 1
    while span / step > most:
        for factor in (2, 5, 10):
            if span / (step * factor) <= most:
                step *= factor
                break
        else:
            step *= 10
    first = -(-start // step) * step
    return list(range(first, end + 1, step))
