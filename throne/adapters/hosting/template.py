"""Engine command templates: a command line with named fields, such as
``vllm serve {model} --revision {revision} --port {port}``, shared by every engine host.

The template is split into words the way a shell would (`shlex.split`) *before* any field is
filled in, so a value holds one word whatever it contains: a model name with a space or a quote
cannot add an option or a command, and is never read by a shell as syntax. Only plain named
fields are allowed (no ``{}``, ``{0}``, attribute or index access, no format options), so an
unknown field is a clear `TemplateError` when the template is first checked.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template that cannot be rendered: unbalanced quotes or braces, a field that is not a
    plain name or that nobody gives, or no words at all. The message says which."""


def render_command(template: str, fields: Mapping[str, object]) -> list[str]:
    """The command's words with every ``{field}`` filled from ``fields`` (``{{`` and ``}}`` are
    literal braces). Calling it with placeholder values checks a template before anything is
    run."""
    return [_render_word(word, fields) for word in _split(template)]


def render_text(template: str, fields: Mapping[str, object]) -> str:
    """One string with every ``{field}`` filled (a served model name such as ``{model}``);
    the same rules and errors as `render_command`, without the splitting."""
    return _render_word(template, fields)


def template_fields(template: str) -> set[str]:
    """The field names ``template`` uses, so a host can refuse one naming a field it never
    gives when it is built, not at its first deploy."""
    return {name for word in _split(template) for name in _names(word)}


def _split(template: str) -> list[str]:
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise TemplateError(f"cannot split the engine command {template!r}: {exc}") from None
    if not words:
        raise TemplateError("engine command is empty")
    return words


def _parse(word: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(_FORMATTER.parse(word))
    except ValueError as exc:
        raise TemplateError(
            f"bad braces in {word!r}: {exc} (write {{{{ and }}}} for literal braces)"
        ) from None


def _names(word: str) -> list[str]:
    names = []
    for _, name, spec, conversion in _parse(word):
        if name is None:
            continue
        if not name.isidentifier():
            raise TemplateError(f"bad braces in {word!r}: field {{{name}}} is not a plain name")
        if spec or conversion:
            raise TemplateError(f"in {word!r}: field {{{name}}} takes no format options")
        names.append(name)
    return names


def _render_word(word: str, fields: Mapping[str, object]) -> str:
    _names(word)  # plain names only, no options
    known = ", ".join("{" + name + "}" for name in fields)
    out: list[str] = []
    for literal, name, _, _ in _parse(word):
        out.append(literal)
        if name is None:
            continue
        if name not in fields:
            raise TemplateError(f"unknown field {{{name}}} in {word!r}; known: {known}")
        out.append(str(fields[name]))
    return "".join(out)
