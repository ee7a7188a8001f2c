"""Engine command templates: split like a shell first, then each word filled in."""

from __future__ import annotations

import pytest

from throne.adapters.hosting.template import render_command, render_text

FIELDS = {"model": "org/affine-x", "revision": "a" * 40, "port": 30001, "host": "127.0.0.1"}


def test_fields_are_filled_into_the_words_of_the_command() -> None:
    argv = render_command("vllm serve {model} --revision {revision} --port {port}", FIELDS)
    assert argv == ["vllm", "serve", "org/affine-x", "--revision", "a" * 40, "--port", "30001"]


def test_a_value_stays_one_word_whatever_it_holds() -> None:
    argv = render_command("engine --model {model}", {"model": "a b; rm -rf / 'x"})
    assert argv == ["engine", "--model", "a b; rm -rf / 'x"]


def test_quotes_and_doubled_braces_keep_their_shell_and_format_meaning() -> None:
    argv = render_command("sh -c 'echo {port}' --json '{{\"a\": 1}}'", FIELDS)
    assert argv == ["sh", "-c", "echo 30001", "--json", '{"a": 1}']


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("engine {gpu}", "unknown field {gpu}"),
        ("engine {}", "not a plain name"),
        ("engine {0}", "not a plain name"),
        ("engine {model.__class__}", "not a plain name"),
        ("engine {model[0]}", "not a plain name"),
        ("engine {port:05d}", "takes no format options"),
        ("engine {model!r}", "takes no format options"),
        ("engine {", "Single '{'"),
        ("engine 'unclosed", "No closing quotation"),
        ("   ", "engine command is empty"),
    ],
)
def test_a_bad_template_is_a_value_error_that_names_the_problem(
    template: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("[", r"\[")):
        render_command(template, FIELDS)


def test_the_unknown_field_error_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"known: \{model\}, \{revision\}, \{port\}, \{host\}"):
        render_command("engine {modle}", FIELDS)


def test_a_served_model_name_is_filled_without_splitting() -> None:
    assert render_text("{model} at {revision}", FIELDS) == f"org/affine-x at {'a' * 40}"
    with pytest.raises(ValueError, match="unknown field"):
        render_text("{nope}", FIELDS)
