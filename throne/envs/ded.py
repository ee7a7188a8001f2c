"""DED: program deduction. Show a specification; ask for a program that passes hidden tests.

Two kinds of test case:
- ``stdin``: the program reads the case's input; its stdout, right-stripped line by line, must
  equal the expected output;
- ``call``: a main guard calling ``fn(*args)`` is appended and the result printed as JSON; the
  printed value must equal the expected value (compared as values through one canonical JSON
  serialisation, never Python text against JSON text).
A case passes only if the run is clean (exit 0, blank stderr, no limit hit). Score 1.0 iff every
case passes; evaluation stops at the first failure. A task without runnable cases is an error
(`InvalidTask`), never a pass.
"""

from __future__ import annotations

import json
from typing import Any

from throne.envs.base import MAX_RESPONSE_CHARS, Evaluation, InvalidTask, Task
from throne.envs.compare import normalise
from throne.envs.corpus.catalog import draw_program
from throne.envs.corpus.program import Program, call_trusted, run_trusted
from throne.envs.extract import extract_code
from throne.envs.prng import Stream, task_stream
from throne.envs.program_env import ProgramEnvironment
from throne.envs.solution import call_harness, call_result_matches, run_program
from throne.envs.tag import tag_line

TESTS_PER_TASK = 5
EXAMPLES = 2

_STDIN_INSTRUCTIONS = (
    "Write a complete Python 3 program that reads all of its input from standard input and "
    "prints only the required output to standard output, with no prompts or extra text. "
    "Return the program in a single ```python code block."
)
_CALL_INSTRUCTIONS = (
    "Write the Python 3 function described above (helpers are allowed). It is called directly "
    "with the arguments: do not read input and do not print. Return the code in a single "
    "```python code block."
)


class DedEnvironment(ProgramEnvironment):
    """Program deduction over the generated corpus (see the module docstring)."""

    name = "DED"
    version = "1"

    def task(self, task_id: int) -> Task:
        self.check_id(task_id)
        rng = task_stream(self.name, self.version, task_id)
        program = draw_program(rng)
        as_call = program.function is not None and rng.below(3) == 0
        if as_call:
            body, data = _call_task(program, rng)
            instructions = _CALL_INSTRUCTIONS
        else:
            body, data = _stdin_task(program, rng)
            instructions = _STDIN_INSTRUCTIONS
        prompt = "\n".join(
            [body.rstrip(), "", "---", instructions, "", tag_line(self.name, self.version, task_id)]
        )
        return Task(self.name, self.version, task_id, prompt, data)

    def evaluate(self, task: Task, response: str) -> Evaluation:
        tests: list[dict[str, Any]] = list(task.data.get("tests", ()))
        if not tests:
            raise InvalidTask(f"DED task {task.task_id} has no test cases")
        for case in tests:
            if case.get("kind") not in ("stdin", "call"):
                raise InvalidTask(f"DED task {task.task_id}: unknown case kind {case.get('kind')}")
        if len(response) > MAX_RESPONSE_CHARS:
            return Evaluation(0.0, f"response longer than {MAX_RESPONSE_CHARS} characters")
        code = extract_code(response)
        if not code:
            return Evaluation(0.0, "no code in the response")
        for number, case in enumerate(tests, start=1):
            if case["kind"] == "stdin":
                result = run_program(self.sandbox, code, case["stdin"])
                passed = result.clean and normalise(result.stdout) == normalise(case["expected"])
            else:
                source = call_harness(code, case["fn"], case["args"])
                result = self.sandbox.run(source, "")
                passed = result.clean and call_result_matches(result.stdout, case["expected"])
            if not passed:
                why = "program failed" if not result.clean else "wrong output"
                return Evaluation(0.0, f"case {number} of {len(tests)}: {why}")
        return Evaluation(1.0, f"all {len(tests)} cases passed")

    def reference_answer(self, task: Task) -> str:
        return f"```python\n{task.data['solution']}\n```"

    def wrong_answer(self, task: Task, salt: int) -> str:
        # Hard-code one case's answer: it fails another case, as the generator draws cases
        # until at least two expected results differ. Should they all agree, the hard-coded
        # answer is altered so that it fails every case.
        tests = task.data["tests"]
        chosen = tests[salt % len(tests)]
        if chosen["kind"] == "stdin":
            text = normalise(chosen["expected"])
            if all(normalise(t["expected"]) == text for t in tests):
                text += " 0"
            code = f"import sys\nsys.stdin.read()\nprint({text!r})"
        else:
            value = chosen["expected"]
            if all(t["expected"] == value for t in tests):
                value = [value]
            code = (
                f"import json\n\n\ndef {chosen['fn']}(*args):\n"
                f"    return json.loads({json.dumps(value)!r})"
            )
        return f"```python\n{code}\n```"


def _stdin_task(program: Program, rng: Stream) -> tuple[str, dict[str, Any]]:
    examples = [program.make_input(rng.child(f"example{i}")) for i in range(EXAMPLES)]
    tests: list[dict[str, Any]] = []
    for attempt in range(20):
        inputs = [
            program.make_input(rng.child(f"test{attempt}:{i}")) for i in range(TESTS_PER_TASK)
        ]
        tests = [
            {"kind": "stdin", "stdin": s, "expected": run_trusted(program.source, s)}
            for s in inputs
        ]
        if len({normalise(t["expected"]) for t in tests}) >= 2:
            break
    shown = [
        f"Example input:\n```\n{example.rstrip()}\n```\n"
        f"Example output:\n```\n{run_trusted(program.source, example).rstrip()}\n```"
        for example in examples
    ]
    body = "\n\n".join([program.statement, *shown])
    data = {"family": program.family, "solution": program.source, "tests": tuple(tests)}
    return body, data


def _call_task(program: Program, rng: Stream) -> tuple[str, dict[str, Any]]:
    form = program.function
    assert form is not None
    tests: list[dict[str, Any]] = []
    for attempt in range(20):
        calls = [form.make_args(rng.child(f"test{attempt}:{i}")) for i in range(TESTS_PER_TASK)]
        tests = [
            {
                "kind": "call",
                "fn": form.name,
                "args": args,
                "expected": _json_value(call_trusted(form, args)),
            }
            for args in calls
        ]
        if len({json.dumps(t["expected"]) for t in tests}) >= 2:
            break
    lines = [form.statement, "", "Examples:"]
    for i in range(EXAMPLES):
        args = form.make_args(rng.child(f"example{i}"))
        shown = ", ".join(repr(a) for a in args)
        lines.append(f"- `{form.name}({shown})` returns `{call_trusted(form, args)!r}`")
    body = "\n".join(lines)
    data = {"family": program.family, "solution": form.source, "tests": tuple(tests)}
    return body, data


def _json_value(value: Any) -> Any:
    return json.loads(json.dumps(value))
