"""What the dashboard's tests share: the pages to visit, and the marks on a page that tie each
value shown to the JSON route it comes from (``data-src``, ``data-path``, ``data-value``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "col", "area", "base", "wbr"}


@dataclass(frozen=True)
class Mark:
    src: str
    path: str
    value: Any
    text: str


class _Marks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None, dict[str, str | None]]] = []
        self.open: list[tuple[dict[str, str | None], str, list[str]]] = []
        self.marks: list[Mark] = []
        self.in_template = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "template":
            self.in_template += 1
        if tag in VOID:
            return
        src = found.get("data-src") or (self.stack[-1][1] if self.stack else None)
        self.stack.append((tag, src, found))
        if "data-path" in found and not self.in_template:
            self.open.append((found, src or "", []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self.in_template -= 1
        if tag in VOID or not self.stack:
            return
        _, _, found = self.stack.pop()
        if self.open and self.open[-1][0] is found:
            attrs, src, text = self.open.pop()
            value = json.loads(attrs["data-value"] or "null")
            self.marks.append(Mark(src, str(attrs["data-path"]), value, "".join(text)))

    def handle_data(self, data: str) -> None:
        for _, _, text in self.open:
            text.append(data)


def marks(html: str) -> list[Mark]:
    """Every value a page marks (outside templates), with the route its nearest ``data-src``
    names."""
    parser = _Marks()
    parser.feed(html)
    return parser.marks


def at(data: Any, path: str) -> Any:
    for step in path.split(".") if path else ():
        if isinstance(data, dict):
            data = data.get(step)
        elif isinstance(data, list) and step.isdigit() and int(step) < len(data):
            data = data[int(step)]
        else:
            return None
    return data
