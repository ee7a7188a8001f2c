"""Families over integer lists: transformation pipelines, pair counting, grids."""

from __future__ import annotations

from collections.abc import Callable

from throne.envs.corpus.draw import indent, ints, plus
from throne.envs.corpus.program import FunctionForm, Program
from throne.envs.prng import Stream

Step = tuple[list[str], str]  # code lines acting on `xs`, and the same step in prose


def _affine(rng: Stream) -> Step:
    a, b = rng.choice([-3, -2, -1, 2, 3, 4, 5]), rng.between(-9, 9)
    return [f"xs = [x * {a}{plus(b)} for x in xs]"], f"replace every number x by x * {a} + {b}"


def _keep_mod(rng: Stream) -> Step:
    m = rng.between(2, 6)
    r = rng.below(m)
    return (
        [f"xs = [x for x in xs if x % {m} == {r}]"],
        f"keep only the numbers x with x mod {m} equal to {r} (the remainder is taken "
        f"non-negative, as Python's % does)",
    )


def _keep_threshold(rng: Stream) -> Step:
    t = rng.between(-10, 25)
    op, words = rng.choice([(">", "greater than"), ("<", "less than"), (">=", "at least")])
    return [f"xs = [x for x in xs if x {op} {t}]"], f"keep only the numbers {words} {t}"


def _sort(rng: Stream) -> Step:
    if rng.coin():
        return ["xs = sorted(xs, reverse=True)"], "sort the numbers in decreasing order"
    return ["xs = sorted(xs)"], "sort the numbers in increasing order"


def _reverse(rng: Stream) -> Step:
    return ["xs = xs[::-1]"], "reverse the order of the numbers"


def _slice(rng: Stream) -> Step:
    k = rng.between(1, 4)
    if rng.coin():
        return [f"xs = xs[:{k}]"], f"keep only the first {k} numbers (all if there are fewer)"
    return [f"xs = xs[{k}:]"], f"drop the first {k} numbers (all if there are fewer)"


def _prefix(rng: Stream) -> Step:
    return (
        ["acc = 0", "ys = []", "for x in xs:", "    acc += x", "    ys.append(acc)", "xs = ys"],
        "replace the list by its running sums (the i-th number becomes the sum of the first i)",
    )


def _abs(rng: Stream) -> Step:
    return ["xs = [abs(x) for x in xs]"], "replace every number by its absolute value"


def _dedupe(rng: Stream) -> Step:
    return (
        [
            "seen = set()",
            "ys = []",
            "for x in xs:",
            "    if x not in seen:",
            "        seen.add(x)",
            "        ys.append(x)",
            "xs = ys",
        ],
        "remove repeated numbers, keeping the first occurrence of each",
    )


def _clamp(rng: Stream) -> Step:
    lo = rng.between(-10, 5)
    hi = lo + rng.between(5, 25)
    return (
        [f"xs = [min(max(x, {lo}), {hi}) for x in xs]"],
        f"clamp every number into the range [{lo}, {hi}]",
    )


def _diffs(rng: Stream) -> Step:
    return (
        ["xs = [b - a for a, b in zip(xs, xs[1:])]"],
        "replace the list by the differences of neighbours (next minus previous; one fewer)",
    )


def _mod(rng: Stream) -> Step:
    m = rng.between(3, 11)
    return [f"xs = [x % {m} for x in xs]"], f"replace every number x by x mod {m} (non-negative)"


STEPS: tuple[Callable[[Stream], Step], ...] = (
    _affine,
    _keep_mod,
    _keep_threshold,
    _sort,
    _reverse,
    _slice,
    _prefix,
    _abs,
    _dedupe,
    _clamp,
    _diffs,
    _mod,
)


def _list_input(rng: Stream) -> str:
    xs = ints(rng, rng.between(4, 10), -20, 40)
    return f"{len(xs)}\n{' '.join(map(str, xs))}\n"


_LIST_IN = (
    "The first line holds an integer n; the second line holds n integers separated by spaces."
)


def list_pipeline(rng: Stream) -> Program:
    chosen = rng.sample(range(len(STEPS)), rng.between(2, 4))
    steps = [STEPS[i](rng) for i in chosen]
    body = [line for code, _ in steps for line in code]
    prose = "; then ".join(text for _, text in steps)
    finish = rng.below(5)
    empty = rng.choice(["EMPTY", "NONE", "-", "0", "nothing"])
    m = rng.between(7, 97)
    if finish == 0:
        out_line = f'print(" ".join(map(str, xs)) if xs else "{empty}")'
        out_text = f"the resulting numbers on one line separated by single spaces, or {empty} "
        out_text += "if none are left"
        ret, ret_text = "xs", "the resulting list"
    elif finish == 1:
        out_line, out_text = "print(sum(xs))", "the sum of the resulting numbers (0 if none)"
        ret, ret_text = "sum(xs)", "the sum of the resulting numbers (0 if none)"
    elif finish == 2:
        out_line = "print(len(xs), sum(xs))"
        out_text = "how many numbers are left and their sum, separated by a space"
        ret, ret_text = "[len(xs), sum(xs)]", "a list [count, sum] of the numbers left"
    elif finish == 3:
        out_line = f"print(max(xs) if xs else {m})"
        out_text = f"the largest resulting number, or {m} if none are left"
        ret, ret_text = f"max(xs) if xs else {m}", out_text
    else:
        body += ["p = 1", "for x in xs:", f"    p = p * x % {m}"]
        out_line = "print(p)"
        out_text = f"the product of the resulting numbers modulo {m} (1 if none are left)"
        ret, ret_text = "p", out_text
    source = "\n".join(
        ["n = int(input())", "xs = list(map(int, input().split()))", *body, out_line]
    )
    statement = (
        f"Read a list of integers, then {prose}.\n\nInput: {_LIST_IN}\n\nOutput: {out_text}."
    )
    name = rng.choice(["transform", "process", "reshape", "crunch"])
    fn_source = "\n".join([f"def {name}(xs):", *indent(body), f"    return {ret}"])
    fn_statement = (
        f"Write a function `{name}(xs)` that takes a list of integers xs, {prose}, and returns "
        f"{ret_text}."
    )

    def args(r: Stream) -> list[object]:
        return [ints(r, r.between(4, 10), -20, 40)]

    return Program(
        "list_pipeline",
        source,
        statement,
        _list_input,
        FunctionForm(name, fn_source, fn_statement, args),
        min_tokens=3,
    )


def pair_count(rng: Stream) -> Program:
    mode = rng.below(4)
    if mode == 0:
        m = rng.between(2, 9)
        r = rng.below(m)
        cond, text = f"(xs[i] + xs[j]) % {m} == {r}", f"xs[i] + xs[j] leaves remainder {r} mod {m}"
    elif mode == 1:
        m = rng.between(3, 9)
        r = rng.below(m)
        cond, text = f"xs[i] * xs[j] % {m} == {r}", f"xs[i] * xs[j] leaves remainder {r} mod {m}"
    elif mode == 2:
        t = rng.between(-50, 300)
        cond, text = f"xs[i] * xs[j] > {t}", f"xs[i] * xs[j] is greater than {t}"
    else:
        d = rng.between(0, 8)
        cond, text = f"abs(xs[i] - xs[j]) <= {d}", f"xs[i] and xs[j] differ by at most {d}"
    listing = rng.below(3) != 0
    lines = [
        "n = int(input())",
        "xs = list(map(int, input().split()))",
        "count = 0",
        "for i in range(n):",
        "    for j in range(i + 1, n):",
        f"        if {cond}:",
        "            count += 1",
    ]
    out_text = "the number of such pairs"
    if listing:
        lines.append("            print(i, j, xs[i], xs[j])")
        out_text = (
            "every such pair as `i j xs[i] xs[j]` (0-based positions) on its own line, in "
            "increasing order of i and then j, followed by a last line with the number of pairs"
        )
    if not listing:
        lines[2:2] = ["best = None"]
        lines += [
            "            if best is None or xs[i] + xs[j] > best:",
            "                best = xs[i] + xs[j]",
        ]
        out_text += " and, separated by a space, the largest xs[i] + xs[j] among them (None "
        out_text += "if there is no pair)"
        lines.append("print(count, best)")
    else:
        lines.append("print(count)")
    statement = (
        f"Given a list xs of integers, consider every pair of positions i < j such that {text}."
        f"\n\nInput: {_LIST_IN}\n\nOutput: {out_text}."
    )
    return Program(
        "pair_count", "\n".join(lines), statement, _list_input, min_chars=20, min_tokens=4
    )


def grid(rng: Stream) -> Program:
    mode = rng.below(5)
    t = rng.between(0, 15)
    head = [
        "r, c = map(int, input().split())",
        "g = [list(map(int, input().split())) for _ in range(r)]",
    ]
    if mode == 0:
        body, text = ["for row in g:", "    print(sum(row))"], "the sum of each row, one per line"
    elif mode == 1:
        body = ['print(" ".join(str(sum(g[i][j] for i in range(r))) for j in range(c)))']
        text = "the sum of each column, on one line separated by spaces"
    elif mode == 2:
        body = ["for j in range(c):", '    print(" ".join(str(g[i][j]) for i in range(r)))']
        text = "the transposed grid: c lines of r numbers separated by spaces"
    elif mode == 3:
        body = [
            "for j in range(c):",
            '    print(" ".join(str(g[i][j]) for i in range(r - 1, -1, -1)))',
        ]
        text = "the grid rotated 90 degrees clockwise: c lines of r numbers separated by spaces"
    else:
        body = [f'print(" ".join(str(sum(1 for v in row if v > {t})) for row in g))']
        text = f"for each row, how many of its cells hold a value greater than {t}, on one line "
        text += "separated by spaces"
    statement = (
        "Read a grid of integers and report on it.\n\nInput: the first line holds r and c; "
        f"then r lines follow, each with c integers separated by spaces.\n\nOutput: {text}."
    )
    lo, hi = rng.choice([(0, 9), (-9, 9), (0, 30)])

    def make_input(r: Stream) -> str:
        rows, cols = r.between(2, 5), r.between(2, 5)
        lines = [f"{rows} {cols}"]
        lines += [" ".join(map(str, ints(r, cols, lo, hi))) for _ in range(rows)]
        return "\n".join(lines) + "\n"

    return Program(
        "grid", "\n".join(head + body), statement, make_input, min_chars=12, min_tokens=3
    )
