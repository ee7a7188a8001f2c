"""An engine's command line from a template with named fields, for every engine host.

The template is split as a shell would split it first, and only then is each word formatted:
a field's value (a model name, a revision) stays one argument whatever it holds, spaces and
quotes included, and is never read by a shell as more words or as syntax.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping


class TemplateError(ValueError):
    """A template that cannot be rendered: unbalanced quotes or braces, a field nobody
    gives, or no words at all. The message says which."""


def render_command(template: str, fields: Mapping[str, object]) -> list[str]:
    """The argument vector of ``template``: shell-split, then each word ``.format``-ed with
    ``fields`` (``{{`` and ``}}`` are literal braces)."""
    return [_format(word, fields) for word in _split(template)]


def template_fields(template: str) -> set[str]:
    """The field names ``template`` uses, so a host can refuse one naming a field it never
    gives when it is built, not at its first deploy."""
    names: set[str] = set()
    for word in _split(template):
        try:
            parsed = list(string.Formatter().parse(word))
        except ValueError as exc:
            raise TemplateError(f"bad braces in {word!r}: {exc}") from None
        for _, name, _, _ in parsed:
            if name is not None:
                names.add(name.split(".")[0].split("[")[0])
    return names


def _split(template: str) -> list[str]:
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise TemplateError(f"cannot split the command: {exc}") from None
    if not words:
        raise TemplateError("the command is empty")
    return words


def _format(word: str, fields: Mapping[str, object]) -> str:
    try:
        return word.format_map(fields)
    except KeyError as exc:
        known = ", ".join("{" + name + "}" for name in sorted(fields))
        raise TemplateError(
            f"unknown field {{{exc.args[0]}}} in {word!r} (known: {known})"
        ) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise TemplateError(f"bad braces in {word!r}: {exc}") from None
