"""ABD: program abduction. Show a program and its output; ask for an input that produces it.

Answer format: the input between ``<INPUT>`` and ``</INPUT>`` (the last such block, after
think blocks are dropped). Scoring, in order: no block → 0; the block fails the line-count
heuristic → 0; the program run on it (in the sandbox) writes anything to stderr, exits non-zero
or hits a limit → 0; else 1 iff its output is equivalent to the expected one
(`throne.envs.compare.equivalent`). Any input that produces the output counts.
"""

from __future__ import annotations

import re

from throne.envs.base import MAX_RESPONSE_CHARS, Evaluation, Task
from throne.envs.compare import equivalent
from throne.envs.corpus.catalog import draw_program
from throne.envs.corpus.program import Program, run_trusted
from throne.envs.extract import extract_input
from throne.envs.prng import Stream, task_stream
from throne.envs.program_env import ProgramEnvironment
from throne.envs.tag import tag_line

MAX_OUTPUT_CHARS = 2_000
_LOOP_HEADER = "for _ in range(int(input()))"


class AbdEnvironment(ProgramEnvironment):
    """Program abduction over the generated corpus (see the module docstring)."""

    name = "ABD"
    version = "1"

    def _draw(self, task_id: int) -> tuple[Program, str, str]:
        """Program, hidden input and output. Uninformative outputs (like a lone ``0``, which
        many programs print) are redrawn, so that tasks stay distinct and worth solving."""
        rng = task_stream(self.name, self.version, task_id)
        for round_ in range(20):
            program = draw_program(rng.child(f"program{round_}"))
            for attempt in range(10):
                stdin = program.make_input(rng.child(f"input{round_}:{attempt}"))
                output = run_trusted(program.source, stdin)
                if _informative(program, output) and _plausible(program, stdin):
                    return program, stdin, output
        raise RuntimeError(f"ABD task {task_id}: no informative program found")  # pragma: no cover

    def task(self, task_id: int) -> Task:
        self.check_id(task_id)
        program, stdin, output = self._draw(task_id)
        prompt = "\n".join(
            [
                "You are given a Python program and the exact output it printed. Find an input "
                "(the text fed to the program on standard input) that makes it print exactly "
                "this output.",
                "",
                "Program:",
                "```python",
                program.source,
                "```",
                "",
                "Expected output:",
                "```",
                output.rstrip("\n"),
                "```",
                "",
                "Work out the input format the program reads from stdin, then give input data "
                "that produces the expected output.",
                "Write the input between <INPUT> and </INPUT>; only the text between these tags "
                "is used. Put each input line on its own line, in exactly the format the program "
                "expects, with raw values only: no labels, prefixes or explanations.",
                "",
                tag_line(self.name, self.version, task_id),
            ]
        )
        data = {
            "family": program.family,
            "program": program.source,
            "stdin": stdin,
            "expected_output": output,
        }
        return Task(self.name, self.version, task_id, prompt, data)

    def evaluate(self, task: Task, response: str) -> Evaluation:
        if len(response) > MAX_RESPONSE_CHARS:
            return Evaluation(0.0, f"response longer than {MAX_RESPONSE_CHARS} characters")
        given = extract_input(response)
        if given is None:
            return Evaluation(0.0, "no <INPUT>…</INPUT> block")
        program: str = task.data["program"]
        if not heuristic_valid(program, given):
            return Evaluation(0.0, "input has fewer lines than the program reads")
        result = self.sandbox.run(program, given + "\n")
        if not result.clean:
            return Evaluation(0.0, f"program failed on the input: {_last_line(result.stderr)}")
        if equivalent(result.stdout, task.data["expected_output"]):
            return Evaluation(1.0, "output matches")
        return Evaluation(0.0, "output differs")

    def reference_answer(self, task: Task) -> str:
        return f"<INPUT>\n{task.data['stdin'].rstrip(chr(10))}\n</INPUT>"

    def wrong_answer(self, task: Task, salt: int) -> str:
        # Another input of the right shape whose output differs: plausible, and provably wrong.
        program, _, _ = self._draw(task.task_id)
        expected = task.data["expected_output"]
        rng = Stream(f"wrong:{self.name}:{task.task_id}:{salt}")
        for attempt in range(200):
            stdin = program.make_input(rng.child(str(attempt)))
            if not equivalent(run_trusted(program.source, stdin), expected):
                return f"<INPUT>\n{stdin.rstrip(chr(10))}\n</INPUT>"
        return "<INPUT>\n</INPUT>"


def heuristic_valid(program: str, given: str) -> bool:
    """Cheap shape check before running: enough lines for the ``input()`` calls in the text;
    with a ``for _ in range(int(input()))`` header and a numeric first line, more lines than
    that number."""
    lines = given.split("\n")
    if _LOOP_HEADER in program and re.fullmatch(r"\d+", lines[0].strip()):
        try:
            count = int(lines[0].strip())
        except ValueError:
            return False  # more digits than int() converts: more than any answer has lines
        return len(lines) > count
    return len(lines) >= program.count("input()")


def _informative(program: Program, output: str) -> bool:
    text = output.strip()
    return (
        len(text) >= program.min_chars
        and len(set(text.split())) >= program.min_tokens
        and len(output) <= MAX_OUTPUT_CHARS
    )


def _plausible(program: Program, stdin: str) -> bool:
    return heuristic_valid(program.source, stdin.rstrip("\n"))


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "non-zero exit"
