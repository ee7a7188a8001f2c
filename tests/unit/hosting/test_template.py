"""Engine command templates: split like a shell first, then each word filled in."""

from __future__ import annotations

import shlex

import pytest

from throne.adapters.hosting.remote_scripts import remote_dir_expr
from throne.adapters.hosting.template import (
    TemplateError,
    render_command,
    render_text,
    template_fields,
)

FIELDS = {"model": "org/affine-x", "revision": "a" * 40, "port": 30001, "host": "127.0.0.1"}


def test_a_field_value_stays_one_argument_whatever_it_holds() -> None:
    argv = render_command(
        "python -m sglang.launch_server --model-path {model} --revision {revision} --port {port}",
        {"model": "a b; rm -rf ~", "revision": "'r'", "port": 8000},
    )
    assert argv[4:] == ["a b; rm -rf ~", "--revision", "'r'", "--port", "8000"]


def test_quoted_words_and_literal_braces_survive() -> None:
    argv = render_command("sh -c 'echo {{x}} {model}'", {"model": "m"})
    assert argv == ["sh", "-c", "echo {x} m"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("serve {model_dir}", "unknown field {model_dir}"),
        ("serve 'unclosed", "cannot split"),
        ("", "empty"),
        ("serve {", "bad braces"),
        ("serve {}", "bad braces"),
    ],
)
def test_a_template_that_cannot_render_is_a_named_error(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render_command(template, {"model": "m"})


def test_the_fields_a_template_uses_are_known_before_any_deploy() -> None:
    assert template_fields("vllm serve {model} --port {port} --x {{literal}}") == {"model", "port"}


def test_a_remote_dir_under_home_keeps_its_tilde_and_quotes_the_rest() -> None:
    assert remote_dir_expr("~/.throne engines") == '"$HOME"/' + shlex.quote(".throne engines")
    assert remote_dir_expr("/data/$x") == "'/data/$x'"


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
