"""Small HTML pieces the pages are made of, every value escaped on the way in.

`bound` writes a value together with where it comes from: ``data-path`` (its path in the JSON
of the nearest ``data-src`` route), ``data-format`` and ``data-value`` (its exact JSON), which
the overview's script refills and the browser tests check. A path's steps are separated by
dots; a step is an object's key or a list's index.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import quote

import orjson

from throne.observability.dashboard.formats import javascript_key_order, show

PREFIX = "/dashboard"


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def as_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def get(data: Any, path: str) -> Any:
    """The value at ``path`` in ``data`` (None where a step is missing; "" is ``data``)."""
    for step in path.split(".") if path else ():
        if isinstance(data, Mapping):
            data = data.get(step)
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            return None
    return data


def entries(value: Any) -> list[tuple[str, Any]]:
    """The (key, item) pairs a live list iterates, in the order the browser's script sees
    them: a list's indexes; an object's keys as JavaScript orders them (keys that are array
    indexes first, ascending, then the others in their order)."""
    if isinstance(value, list):
        return [(str(i), v) for i, v in enumerate(value)]
    if not isinstance(value, Mapping):
        return []
    items = {str(k): v for k, v in value.items()}
    return [(k, items[k]) for k in javascript_key_order(items)]


def fill_href(template: str, data: Any, base: str, key: str = "") -> str:
    """``template`` with each ``{path}`` replaced by the URL-quoted value at ``base + path``
    (``{@key}``: the list item's key)."""
    out, rest = [], template
    while "{" in rest:
        before, _, after = rest.partition("{")
        inner, _, rest = after.partition("}")
        value = key if inner == "@key" else get(data, _join(base, inner))
        out += [before, quote("" if value is None else str(value), safe="")]
    return "".join([*out, rest])


def _join(base: str, path: str) -> str:
    return (base + path).rstrip(".")


def bound(
    data: Any,
    path: str,
    fmt: str = "text",
    *,
    tag: str = "span",
    cls: str = "",
    base: str = "",
    href: str | None = None,
    key: str = "",
) -> str:
    """``<tag data-path=...>`` holding the value at ``base + path`` in ``data`` (``data`` is
    the JSON the route answered; ``base`` a list item's prefix such as ``queue.0.``; "" as
    ``path`` is the item itself). With ``href`` (a `fill_href` template), a link to it inside
    the tag (or the tag itself when ``tag`` is ``a``)."""
    full = _join(base, path)
    value = get(data, full) if data is not None else None
    text = esc(show(value, fmt))
    marks = f'data-path="{esc(full)}" data-format="{esc(fmt)}" data-value=\'{esc(as_json(value))}\''
    klass = f' class="{esc(cls)}"' if cls else ""
    if href is None:
        return f"<{tag}{klass} {marks}>{text}</{tag}>"
    target = esc(fill_href(href, data, base, key)) if data is not None else ""
    anchor = f'<a href="{target}" data-href="{esc(href)}" {marks}>{text}</a>'
    return anchor if tag == "a" else f"<{tag}{klass}>{anchor}</{tag}>"


Column = Callable[[Any, str, str], str]


def col(path: str, fmt: str = "text", *, href: str | None = None, cls: str = "") -> Column:
    """A cell of a live list's row: the value at ``path`` of the item."""
    num = cls or ("num" if fmt in ("int", "pct", "weight", "stat", "score", "ms") else "")
    return lambda data, base, key: bound(
        data, path, fmt, tag="td", cls=num, base=base, href=href, key=key
    )


def key_col(href: str | None = None) -> Column:
    """The row's header cell: the item's key (an env's name, a uid)."""

    def cell(data: Any, base: str, key: str) -> str:
        inner = esc(key)
        if href is not None:
            target = esc(fill_href(href, data, base, key))
            inner = f'<a href="{target}" data-href="{esc(href)}">{inner}</a>'
        return f'<th scope="row" data-key>{inner}</th>'

    return cell


def progress_col(value: str, most: str) -> Column:
    """A ``<progress>`` of ``value`` out of ``most``, with the two numbers beside it."""

    def cell(data: Any, base: str, key: str) -> str:
        v, m = get(data, _join(base, value)), get(data, _join(base, most))
        attrs = "" if data is None else f' value="{esc(v or 0)}" max="{esc(m or 1)}"'
        return (
            f'<td class="num"><progress data-bind-value="{esc(value)}" '
            f'data-bind-max="{esc(most)}"{attrs}></progress> '
            f"{bound(data, value, 'int', base=base)}/{bound(data, most, 'int', base=base)}</td>"
        )

    return cell


def live_table(
    data: Any,
    path: str,
    headers: Sequence[str],
    columns: Sequence[Column],
    *,
    caption: str,
    empty: str,
) -> str:
    """A table with a row per entry of the list (or object) at ``path``, which the overview's
    script rebuilds from its ``<template>`` when the JSON changes."""
    template = "<template><tr>" + "".join(c(None, "", "") for c in columns) + "</tr></template>"
    rows = []
    for key, _ in entries(get(data, path)):
        base = f"{path}.{key}."
        cells = "".join(c(data, base, key) for c in columns)
        rows.append(f'<tr data-base="{esc(base)}" data-item="{esc(key)}">{cells}</tr>')
    return table(
        caption,
        headers,
        rows,
        empty=empty,
        attrs=f'data-list="{esc(path)}"',
        template=template,
    )


def shown_if(data: Any, path: str, *, negate: bool = False) -> str:
    """The attributes of an element shown only while the value at ``path`` is truthy (or,
    with ``negate``, falsy) — which the overview's script keeps so."""
    value = get(data, path)
    truthy = bool(value) if not isinstance(value, int | float) or isinstance(value, bool) else True
    hidden = truthy if negate else not truthy
    name = "data-hide" if negate else "data-show"
    return f'{name}="{esc(path)}"' + (" hidden" if hidden else "")


def link(href: str, text: str, *, cls: str = "") -> str:
    klass = f' class="{esc(cls)}"' if cls else ""
    return f'<a href="{esc(href)}"{klass}>{text}</a>'


def miner_href(hotkey_or_uid: Any) -> str:
    return f"{PREFIX}/miners/{quote(str(hotkey_or_uid), safe='')}"


def env_href(env: str) -> str:
    return f"{PREFIX}/envs/{quote(env, safe='')}"


def battle_href(number: int) -> str:
    return f"{PREFIX}/battles/{int(number)}"


def table(
    caption: str,
    headers: Iterable[str],
    rows: Iterable[str],
    *,
    empty: str,
    attrs: str = "",
    template: str = "",
) -> str:
    """A table in a region that scrolls sideways on a narrow screen (and can be focused to
    scroll with the keyboard). ``rows``: ``<tr>`` strings; ``empty``: the text of a table
    without any; ``attrs`` go on the ``<tbody>`` (a live list's ``data-list``), ``template``
    inside it (the row the script clones)."""
    heads = list(headers)
    body = "".join(rows) or empty_row(len(heads), empty)
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in heads)
    return (
        f'<div class="scroll" role="region" tabindex="0" aria-label="{esc(caption)}">'
        f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>"
        f'<tbody {attrs} data-empty="{esc(empty)}" data-columns="{len(heads)}">'
        f"{template}{body}</tbody></table></div>"
    )


def empty_row(columns: int, text: str) -> str:
    return f'<tr class="empty"><td colspan="{columns}">{esc(text)}</td></tr>'


def definition_list(items: Iterable[tuple[str, str]]) -> str:
    """``<dl>`` of (term, HTML) pairs."""
    inner = "".join(f"<dt>{esc(term)}</dt><dd>{value}</dd>" for term, value in items)
    return f'<dl class="facts">{inner}</dl>'


def pager(href: str, page: Mapping[str, Any]) -> str:
    """Links to the previous (newer) and next (older) pages, if there are any."""
    number, pages, limit = int(page["page"]), int(page["pages"]), int(page["limit"])
    parts = []
    if number > 1:
        parts.append(link(f"{href}?page={number - 1}&limit={limit}", "← Newer"))
    parts.append(f"<span>Page {number} of {pages}</span>")
    if number < pages:
        parts.append(link(f"{href}?page={number + 1}&limit={limit}", "Older →"))
    return f'<nav class="pager" aria-label="Pages">{" ".join(parts)}</nav>'


_TEMPLATES: dict[str, Template] = {}


def render(name: str, **values: str) -> str:
    """The package's template ``templates/NAME.html`` with ``$key`` replaced by each value
    (HTML already escaped by the caller)."""
    found = _TEMPLATES.get(name)
    if found is None:
        text = resources.files(__package__).joinpath("templates", f"{name}.html").read_text()
        found = _TEMPLATES[name] = Template(text)
    return found.substitute(values)


NAV = (
    ("overview", "Overview", PREFIX),
    ("reigns", "Reigns", f"{PREFIX}/reigns"),
    ("weights", "Weights", f"{PREFIX}/weights"),
    ("audit", "Audit", f"{PREFIX}/audit"),
)


def page(
    title: str, main: str, *, current: str = "", envs: Iterable[str] = (), script: str = ""
) -> str:
    """A whole page: the layout around ``main`` (HTML), with the navigation (``current`` marked)
    and links to each env's page."""
    marked = ' aria-current="page"'
    items = [
        f'<li><a href="{esc(href)}"{marked if key == current else ""}>{esc(label)}</a></li>'
        for key, label, href in NAV
    ]
    items += [f'<li><a href="{esc(env_href(e))}">Env {esc(e)}</a></li>' for e in envs]
    scripts = f'<script src="{PREFIX}/static/{esc(script)}" defer></script>' if script else ""
    return render(
        "layout",
        title=esc(title),
        nav="".join(items),
        main=main,
        scripts=scripts,
        static=f"{PREFIX}/static",
    )
