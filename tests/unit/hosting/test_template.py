"""Engine command templates: split as a shell would first, then each word formatted."""

from __future__ import annotations

import shlex

import pytest

from throne.adapters.hosting.remote_scripts import remote_dir_expr
from throne.adapters.hosting.template import TemplateError, render_command, template_fields


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
