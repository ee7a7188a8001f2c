"""Engine command templates: a command line with named fields, such as
``vllm serve {model} --revision {revision} --port {port}``.

The template is split into words the way a shell would (`shlex.split`) *before* any field is
filled in, so a value holds one word whatever it contains: a model name with a space or a quote
cannot add an option or a command. Only named fields are allowed (no ``{}``, ``{0}``, attribute
or index access), so an unknown field is a clear error when the template is first checked.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping

_FORMATTER = string.Formatter()


def render_command(template: str, fields: Mapping[str, object]) -> list[str]:
    """The command's words with every ``{field}`` filled from ``fields``.

    Raises `ValueError` naming the problem: an unbalanced quote, an empty command, a brace out
    of place, or a field that ``fields`` does not hold. Calling it with placeholder values
    checks a template before anything is run.
    """
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise ValueError(f"engine command {template!r}: {exc}") from None
    if not words:
        raise ValueError("engine command is empty")
    return [_render_word(word, fields, template) for word in words]


def render_text(template: str, fields: Mapping[str, object]) -> str:
    """One string with every ``{field}`` filled (a served model name such as ``{model}``);
    the same rules and errors as `render_command`, without the splitting."""
    return _render_word(template, fields, template)


def _render_word(word: str, fields: Mapping[str, object], template: str) -> str:
    known = ", ".join("{" + name + "}" for name in fields)
    out: list[str] = []
    try:
        parsed = list(_FORMATTER.parse(word))
    except ValueError as exc:
        raise ValueError(f"template {template!r}: {exc} (write {{{{ and }}}} for braces)") from None
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(
                f"template {template!r}: field {{{name}}} is not a plain name; known: {known}"
            )
        if name not in fields:
            raise ValueError(f"template {template!r}: unknown field {{{name}}}; known: {known}")
        if spec or conversion:
            raise ValueError(f"template {template!r}: field {{{name}}} takes no format options")
        out.append(str(fields[name]))
    return "".join(out)
