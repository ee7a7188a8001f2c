"""SAT: planted k-SAT.

Each task draws a hidden assignment and builds clauses that it satisfies, so every instance is
satisfiable and ``UNSAT`` is always wrong. Difficulty varies with the task id: the number of
variables is drawn in ``[n, n_max]`` and the clause count follows it (``int(ratio * n)``).

Answer parsing is strict:
- think blocks (``<think>…</think>``) are dropped first; a response longer than
  `MAX_RESPONSE_CHARS` scores 0;
- a response that says ``UNSAT`` anywhere (outside think blocks) scores 0;
- assignments are ``x<i>=<v>`` with ``v`` one of ``True``, ``False``, ``1``, ``0``, no spaces
  around ``=``, not glued to other letters or digits (``xx1=True`` and ``x1=10`` do not count);
- the last assignment of a variable wins; a variable never assigned satisfies no literal.
Score 1.0 iff every clause has a satisfied literal (any satisfying assignment counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from throne.envs.base import MAX_RESPONSE_CHARS, Environment, Evaluation, Task
from throne.envs.extract import strip_think
from throne.envs.prng import task_stream
from throne.envs.tag import tag_line

_ASSIGN = re.compile(r"(?<![A-Za-z0-9_])x(\d+)=(True|False|1|0)(?![A-Za-z0-9_])")
_UNSAT = re.compile(r"\bUNSAT\b")


@dataclass(frozen=True)
class SatConfig:
    """``n``..``n_max`` variables per task, ``k`` literals per clause (capped at n), and
    ``m`` clauses (default ``int(ratio * n_task)``)."""

    n: int = 15
    n_max: int = 25
    k: int = 10
    m: int | None = None
    ratio: float = 4.26
    id_count: int = 1 << 32

    def __post_init__(self) -> None:
        if not (1 <= self.n <= self.n_max) or self.k < 1 or (self.m is not None and self.m < 1):
            raise ValueError(f"bad SAT config: {self}")


class SatEnvironment(Environment):
    """Planted k-SAT (see the module docstring for the exact answer format)."""

    name = "SAT"
    version = "1"

    def __init__(self, config: SatConfig | None = None) -> None:
        self.config = config or SatConfig()

    @property
    def id_range(self) -> tuple[int, int]:
        return (0, self.config.id_count)

    def task(self, task_id: int) -> Task:
        self.check_id(task_id)
        cfg = self.config
        rng = task_stream(self.name, self.version, task_id)
        n = rng.between(cfg.n, cfg.n_max)
        k = min(cfg.k, n)
        m = cfg.m if cfg.m is not None else max(1, int(cfg.ratio * n))
        planted = [rng.coin() for _ in range(n)]
        clauses: list[tuple[int, ...]] = []
        for _ in range(m):
            variables = rng.sample(range(1, n + 1), k)
            satisfier = rng.below(k)
            clause = []
            for pos, var in enumerate(variables):
                positive = planted[var - 1] if pos == satisfier else rng.coin()
                clause.append(var if positive else -var)
            clauses.append(tuple(clause))
        formula = " ∧ ".join(
            "(" + " ∨ ".join(f"x{lit}" if lit > 0 else f"¬x{-lit}" for lit in c) + ")"
            for c in clauses
        )
        prompt = "\n".join(
            [
                f"Find a satisfying assignment for the following {k}-SAT formula over "
                f"variables x1..x{n}:",
                formula,
                "Provide your answer as comma-separated assignments like `x1=True, x2=False, "
                "...`, or respond `UNSAT` if it has no solution.",
                "",
                tag_line(self.name, self.version, task_id),
            ]
        )
        data = {"n": n, "k": k, "clauses": tuple(clauses), "planted": tuple(planted)}
        return Task(self.name, self.version, task_id, prompt, data)

    def evaluate(self, task: Task, response: str) -> Evaluation:
        if len(response) > MAX_RESPONSE_CHARS:
            return Evaluation(0.0, f"response longer than {MAX_RESPONSE_CHARS} characters")
        text = strip_think(response)
        if _UNSAT.search(text):
            return Evaluation(0.0, "answered UNSAT, but every instance is satisfiable")
        n: int = task.data["n"]
        values: dict[int, bool] = {}
        for var, val in _ASSIGN.findall(text):
            try:
                index = int(var)
            except ValueError:
                continue  # more digits than int() converts: no variable of any task
            if 1 <= index <= n:
                values[index] = val in ("True", "1")
        if not values:
            return Evaluation(0.0, "no assignment found")
        clauses: tuple[tuple[int, ...], ...] = task.data["clauses"]
        for number, clause in enumerate(clauses, start=1):
            if not any(values.get(abs(lit)) is (lit > 0) for lit in clause):
                return Evaluation(0.0, f"clause {number} of {len(clauses)} is not satisfied")
        return Evaluation(1.0, f"all {len(clauses)} clauses satisfied")

    def reference_answer(self, task: Task) -> str:
        planted: tuple[bool, ...] = task.data["planted"]
        return ", ".join(f"x{i}={v}" for i, v in enumerate(planted, start=1))

    def wrong_answer(self, task: Task, salt: int) -> str:
        # Falsify every literal of one clause, chosen by salt; other variables keep the
        # planted values, so the answer looks complete and well formed.
        clauses: tuple[tuple[int, ...], ...] = task.data["clauses"]
        values = list(task.data["planted"])
        for lit in clauses[salt % len(clauses)]:
            values[abs(lit) - 1] = lit < 0
        return ", ".join(f"x{i}={v}" for i, v in enumerate(values, start=1))
