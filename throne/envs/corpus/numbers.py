"""Families over numbers and small parsers: digits, gcd, fizzbuzz, command machines, records."""

from __future__ import annotations

from throne.envs.corpus.draw import LOWER, indent
from throne.envs.corpus.program import FunctionForm, Program
from throne.envs.prng import Stream

_WORDS = (
    "Fizz", "Buzz", "Bang", "Zap", "Pop", "Ding", "Boom", "Tick", "Whizz", "Clap", "Hum", "Zing",
)  # fmt: skip


def digits(rng: Stream) -> Program:
    mode = rng.below(6)
    d = rng.between(0, 9)
    b = rng.between(2, 9)
    m = rng.between(3, 50)
    if mode == 0:
        body = ["s = 0", "while n > 0:", "    s += n % 10", "    n //= 10", "return s"]
        text = "the sum of its decimal digits"
    elif mode == 1:
        body = ["r = 0", "while n > 0:", "    r = r * 10 + n % 10", "    n //= 10", "return r"]
        text = "the number read with its decimal digits reversed (leading zeros dropped)"
    elif mode == 2:
        body = [f"return int(str(n).replace('{d}', '') or '0')"]
        text = f"the number left after deleting every digit {d} from n (0 if no digit is left)"
    elif mode == 3:
        body = [
            "if n == 0:",
            '    return "0"',
            'out = ""',
            "while n > 0:",
            f"    out = str(n % {b}) + out",
            f"    n //= {b}",
            "return out",
        ]
        text = f"its representation in base {b}"
    elif mode == 4:
        body = ["while n >= 10:", "    n = sum(int(c) for c in str(n))", "return n"]
        text = "its digital root (sum the digits repeatedly until one digit is left)"
    else:
        body = [f"return sum(int(c) ** 2 for c in str(n)) % {m}"]
        text = f"the sum of the squares of its digits, modulo {m}"
    name = rng.choice(["digit_fn", "number_fact", "calc"])
    fn = [f"def {name}(n):", *indent(body)]
    source = "\n".join(
        [*fn, "", "for _ in range(int(input())):", f"    print({name}(int(input())))"]
    )
    statement = (
        f"For each non-negative integer n given, print {text}.\n\nInput: the first line holds t; "
        "t lines follow, each with one integer n (0 ≤ n < 10^9).\n\nOutput: one line per n."
    )
    fn_statement = f"Write a function `{name}(n)` that takes a non-negative integer n and returns "
    fn_statement += f"{text}" + (" as a string." if mode == 3 else ".")
    hi = rng.choice([9999, 10**6, 10**9 - 1])

    def make_input(r: Stream) -> str:
        ns = [r.between(0, hi) for _ in range(r.between(2, 6))]
        return f"{len(ns)}\n" + "\n".join(map(str, ns)) + "\n"

    def args(r: Stream) -> list[object]:
        return [r.between(0, hi)]

    return Program(
        "digits",
        source,
        statement,
        make_input,
        FunctionForm(name, "\n".join(fn), fn_statement, args),
        min_chars=12,
        min_tokens=3,
    )


def gcd_pairs(rng: Stream) -> Program:
    mode = rng.below(4)
    m = rng.between(5, 1000)
    head = [
        "def gcd(a, b):",
        "    while b:",
        "        a, b = b, a % b",
        "    return a",
        "",
        "t = int(input())",
        "for _ in range(t):",
        "    a, b = map(int, input().split())",
    ]
    if mode == 0:
        body, text = ["    print(gcd(a, b))"], "gcd(a, b)"
    elif mode == 1:
        body, text = ["    print(a * b // gcd(a, b))"], "lcm(a, b)"
    elif mode == 2:
        body, text = (
            ["    g = gcd(a, b)", "    print(a // g, b // g)"],
            "a/b reduced: a//g and b//g",
        )
        text += " separated by a space, with g = gcd(a, b)"
    else:
        body, text = [f"    print((a * b // gcd(a, b)) % {m})"], f"lcm(a, b) modulo {m}"
    statement = (
        f"For each pair of positive integers a and b, print {text}.\n\nInput: the first line "
        "holds t; t lines follow, each with two positive integers a and b.\n\nOutput: one line "
        "per pair."
    )
    hi = rng.choice([30, 100, 1000, 10**5])

    def make_input(r: Stream) -> str:
        rows = []
        for _ in range(r.between(2, 6)):
            g = r.between(1, 12)
            rows.append(f"{g * r.between(1, hi)} {g * r.between(1, hi)}")
        return f"{len(rows)}\n" + "\n".join(rows) + "\n"

    return Program(
        "gcd_pairs", "\n".join(head + body), statement, make_input, min_chars=12, min_tokens=3
    )


def fizzbuzz(rng: Stream) -> Program:
    rules = sorted(rng.sample(range(2, 10), rng.between(2, 3)))
    names = rng.sample(_WORDS, len(rules))
    fmt = rng.choice(["{}", "[{}]", "{}."])
    first = rng.between(1, 20)
    step = rng.between(1, 3)
    stepping = f", {step}" if step > 1 else ""
    lines = ["n = int(input())", f"for i in range({first}, n + 1{stepping}):", '    out = ""']
    for d, w in zip(rules, names, strict=True):
        lines += [f"    if i % {d} == 0:", f'        out += "{w}"']
    number = fmt.replace("{}", '" + str(i) + "')
    number = f'"{number}"'.replace('"" + ', "").replace(' + ""', "")
    lines.append(f"    print(out if out else {number})")
    rule_text = ", ".join(
        f"{w} if i is divisible by {d}" for d, w in zip(rules, names, strict=True)
    )
    statement = (
        f"For i = {first}, {first + step}, {first + 2 * step}, … up to n print a line built "
        f"from the words {rule_text} (concatenated in that order when several apply); when none "
        f"applies print i written as {fmt.format('i')}."
        f"\n\nInput: one integer n (n ≥ {first}).\n\nOutput: one line per i."
    )

    def make_input(r: Stream) -> str:
        return f"{r.between(first + 4, first + 40)}\n"

    return Program("fizzbuzz", "\n".join(lines), statement, make_input)


def command_machine(rng: Stream) -> Program:
    names = rng.choice(
        [
            ("add", "sub", "mul"),
            ("plus", "minus", "times"),
            ("inc", "dec", "scale"),
            ("up", "down", "grow"),
        ]
    )
    start = rng.between(-5, 20)
    m = rng.between(11, 1000)
    trace = rng.coin()
    lines = [
        f"v = {start}",
        "q = int(input())",
        "for _ in range(q):",
        "    op, x = input().split()",
        "    x = int(x)",
        f'    if op == "{names[0]}":',
        "        v = v + x",
        f'    elif op == "{names[1]}":',
        "        v = v - x",
        "    else:",
        "        v = v * x",
        f"    v = v % {m}",
    ]
    lines.append("    print(v)" if trace else "print(v)")
    out_text = "the value after every command, one per line" if trace else "the final value"
    statement = (
        f"A machine holds a value v, initially {start}. It runs commands `{names[0]} x` "
        f"(v = v + x), `{names[1]} x` (v = v - x) and `{names[2]} x` (v = v * x); after each "
        f"command v becomes v mod {m} (non-negative).\n\nInput: the first line holds q; q lines "
        f"follow, each a command and an integer separated by a space.\n\nOutput: {out_text}."
    )

    def make_input(r: Stream) -> str:
        cmds = [f"{r.choice(names)} {r.between(0, 30)}" for _ in range(r.between(2, 7))]
        return f"{len(cmds)}\n" + "\n".join(cmds) + "\n"

    return Program("command_machine", "\n".join(lines), statement, make_input, min_tokens=3)


def records(rng: Stream) -> Program:
    sep = rng.choice([";", ",", "|", " "])
    assign = rng.choice(["=", ":", "->"])
    mode = rng.below(4)
    t = rng.between(0, 50)
    lines = [
        "pairs = []",
        f'for item in input().split("{sep}"):',
        f'    key, value = item.split("{assign}")',
        "    pairs.append((key, int(value)))",
    ]
    if mode == 0:
        c = rng.choice(LOWER[:8])
        lines.append(f'print(sum(v for k, v in pairs if k.startswith("{c}")))')
        text = f"the sum of the values whose key starts with '{c}' (0 if none)"
    elif mode == 1:
        lines += [
            "best = pairs[0]",
            "for p in pairs:",
            "    if p[1] > best[1]:",
            "        best = p",
            "print(*best)",
        ]
        text = "the key with the largest value (the first one on ties) and that value, "
        text += "separated by a space"
    elif mode == 2:
        lines += ["pairs.sort(key=lambda p: (-p[1], p[0]))", 'print(" ".join(k for k, v in pairs))']
        text = "the keys by decreasing value, ties by key, separated by spaces"
    else:
        lines += [f"big = sorted(k for k, v in pairs if v > {t})", 'print(len(big), " ".join(big))']
        text = f"how many values are greater than {t}, a space, then their keys in alphabetical "
        text += "order separated by spaces"
    statement = (
        f"Read records `key{assign}value` separated by '{sep}' on one line (keys are lower-case "
        f"words, values integers).\n\nInput: one line of records.\n\nOutput: {text}."
    )
    first = "".join(rng.sample(LOWER[:8], 3))

    def make_input(r: Stream) -> str:
        keys = r.sample([a + b for a in first for b in LOWER[:6]], r.between(2, 7))
        return sep.join(f"{k}{assign}{r.between(0, 99)}" for k in keys) + "\n"

    return Program("records", "\n".join(lines), statement, make_input, min_chars=12, min_tokens=3)
