"""A small deterministic environment implementing `Environment`, for these tests."""

from __future__ import annotations

import hashlib
import re

from throne.envs.base import Environment, Evaluation, Task

_PROMPT = re.compile(r"^Task (\d+): what is (\d+) \+ (\d+)\? Answer with the number only\.$")


class ArithmeticEnvironment(Environment):
    name = "ADD"
    version = "1"

    @property
    def id_range(self) -> tuple[int, int]:
        return (0, 10_000)

    def task(self, task_id: int) -> Task:
        self.check_id(task_id)
        digest = hashlib.sha256(f"ADD:{task_id}".encode()).digest()
        a, b = digest[0] * 7 + digest[1], digest[2] * 5 + digest[3]
        prompt = f"Task {task_id}: what is {a} + {b}? Answer with the number only."
        return Task(self.name, self.version, task_id, prompt, {"sum": a + b})

    def evaluate(self, task: Task, response: str) -> Evaluation:
        expected = str(task.data["sum"])
        if response.strip() == expected:
            return Evaluation(1.0, "correct")
        return Evaluation(0.0, f"expected {expected}")

    def reference_answer(self, task: Task) -> str:
        return str(task.data["sum"])

    def wrong_answer(self, task: Task, salt: int) -> str:
        return str(int(task.data["sum"]) + 1 + salt % 9)

    def locate(self, prompt: str) -> int | None:
        match = _PROMPT.match(prompt)
        if match is None:
            return None
        task_id = int(match.group(1))
        start, stop = self.id_range
        if not start <= task_id < stop or self.task(task_id).prompt != prompt:
            return None
        return task_id
