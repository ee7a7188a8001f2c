from __future__ import annotations

from dataclasses import replace

import pytest

from throne.envs.base import MAX_RESPONSE_CHARS, InvalidTask, Task
from throne.envs.ded import DedEnvironment
from throne.envs.extract import extract_code


def _first(ded: DedEnvironment, kind: str, valued: type | None = None) -> Task:
    for task_id in range(200):
        task = ded.task(task_id)
        case = task.data["tests"][0]
        if case["kind"] == kind and (valued is None or isinstance(case["expected"], valued)):
            return task
    raise AssertionError(f"no {kind} task")


def test_reference_programs_pass_and_wrong_ones_fail_for_both_kinds(ded: DedEnvironment) -> None:
    for kind in ("stdin", "call"):
        task = _first(ded, kind)
        assert ded.evaluate(task, ded.reference_answer(task)).score == 1.0, kind
        for salt in range(2):
            assert ded.evaluate(task, ded.wrong_answer(task, salt)).score == 0.0, kind


def test_many_tasks_are_solved_by_their_reference(ded: DedEnvironment) -> None:
    for task_id in range(10):
        task = ded.task(task_id)
        assert ded.evaluate(task, ded.reference_answer(task)).score == 1.0, task.data["family"]


def test_function_results_are_compared_as_values_not_as_text(ded: DedEnvironment) -> None:
    task = _first(ded, "call", valued=list)
    fn = task.data["tests"][0]["fn"]
    solution = task.data["solution"]
    # Returning a tuple where a list is expected is the same value once serialised.
    as_tuple = f"{solution}\n\n_orig = {fn}\n\ndef {fn}(*a):\n    r = _orig(*a)\n"
    as_tuple += "    return tuple(r) if isinstance(r, list) else r\n"
    assert ded.evaluate(task, f"```python\n{as_tuple}```").score == 1.0
    # Returning the Python text of the value is not the value.
    as_text = f"{solution}\n\n_orig = {fn}\n\ndef {fn}(*a):\n    return str(_orig(*a))\n"
    assert ded.evaluate(task, f"```python\n{as_text}```").score == 0.0


@pytest.mark.parametrize(
    "printed",
    ['"[" * 5000 + "]" * 5000', '"{\\"a\\": " * 3000 + "1" + "}" * 3000', '"1" * 5000'],
    ids=["nested-arrays", "nested-objects", "huge-integer"],
)
def test_a_call_result_printed_as_hostile_json_is_wrong_not_an_error(
    ded: DedEnvironment, printed: str
) -> None:
    task = _first(ded, "call")
    fn = task.data["tests"][0]["fn"]
    program = f"import sys\n\ndef {fn}(*args):\n    print({printed})\n    sys.exit(0)\n"
    assert ded.evaluate(task, f"```python\n{program}```").score == 0.0


def test_a_task_without_test_cases_is_an_error_never_a_pass(ded: DedEnvironment) -> None:
    task = _first(ded, "stdin")
    empty = replace(task, data={**task.data, "tests": ()})
    with pytest.raises(InvalidTask):
        ded.evaluate(empty, ded.reference_answer(task))
    unknown = replace(task, data={**task.data, "tests": ({"kind": "mystery"},)})
    with pytest.raises(InvalidTask):
        ded.evaluate(unknown, ded.reference_answer(task))


def test_malformed_empty_and_huge_answers_score_zero(ded: DedEnvironment) -> None:
    task = _first(ded, "stdin")
    assert ded.evaluate(task, "").score == 0.0
    assert ded.evaluate(task, "I cannot solve this.").score == 0.0
    assert ded.evaluate(task, "```python\ndef broken(:\n```").score == 0.0
    huge = ded.reference_answer(task) + "#" * MAX_RESPONSE_CHARS
    assert ded.evaluate(task, huge).score == 0.0


def test_a_solve_function_without_a_main_guard_is_called(ded: DedEnvironment) -> None:
    task = _first(ded, "stdin")
    body = "\n".join("    " + line for line in task.data["solution"].split("\n"))
    answer = f"```python\ndef solve():\n{body}\n```"
    assert ded.evaluate(task, answer).score == 1.0


def test_code_extraction_prefers_the_last_python_fence() -> None:
    text = "```\nbare\n```\n```js\njs\n```\n```python\nfirst\n```\n```python\nlast\n```"
    assert extract_code(text) == "last"
    assert extract_code("```js\njs1\n```\n```sh\nsh2\n```") == "sh2"
    assert extract_code("```\nbare1\n```\n```\nbare2\n```") == "bare1"
    assert extract_code("<think>```python\nx\n```</think>print(1)") == "print(1)"


def test_prompts_hold_the_statement_an_example_and_the_instructions(ded: DedEnvironment) -> None:
    stdin_task, call_task = _first(ded, "stdin"), _first(ded, "call")
    assert "Example input:" in stdin_task.prompt and "\n---\n" in stdin_task.prompt
    assert "standard input" in stdin_task.prompt.split("---")[1]
    fn = call_task.data["tests"][0]["fn"]
    assert f"`{fn}(" in call_task.prompt and "do not read input" in call_task.prompt
    assert ded.locate(call_task.prompt) == call_task.task_id


def test_wrong_answers_stay_wrong_even_when_every_case_expects_the_same(
    ded: DedEnvironment,
) -> None:
    for kind in ("stdin", "call"):
        task = _first(ded, kind)
        first = task.data["tests"][0]
        same = tuple(dict(first) for _ in task.data["tests"])
        uniform = replace(task, data={**task.data, "tests": same})
        assert ded.evaluate(uniform, ded.reference_answer(uniform)).score == 1.0
        assert ded.evaluate(uniform, ded.wrong_answer(uniform, 0)).score == 0.0
