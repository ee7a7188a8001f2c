"""Families over text: string pipelines, shift ciphers, word statistics, run lengths, brackets."""

from __future__ import annotations

from collections.abc import Callable

from throne.envs.corpus.draw import LOWER, VOWELS, indent, word, words
from throne.envs.corpus.program import FunctionForm, Program
from throne.envs.prng import Stream

Step = tuple[list[str], str]


def _two_letters(rng: Stream) -> tuple[str, str]:
    a, b = rng.sample(LOWER, 2)
    return a, b


def _reverse(rng: Stream) -> Step:
    return ["s = s[::-1]"], "reverse the whole string"


def _upper(rng: Stream) -> Step:
    return ["s = s.upper()"], "turn every letter to upper case"


def _swapcase(rng: Stream) -> Step:
    return ["s = s.swapcase()"], "swap the case of every letter"


def _replace(rng: Stream) -> Step:
    a, b = _two_letters(rng)
    return [f's = s.replace("{a}", "{b}")'], f"replace every '{a}' by '{b}'"


def _remove(rng: Stream) -> Step:
    a = rng.choice(LOWER)
    return [f's = s.replace("{a}", "")'], f"delete every '{a}'"


def _rotate(rng: Stream) -> Step:
    k = rng.between(1, 4)
    return (
        [f"s = s[{k}:] + s[:{k}]"],
        f"move the first {k} characters to the end (nothing changes if there are fewer)",
    )


def _collapse(rng: Stream) -> Step:
    return (
        [
            'out = ""',
            "for ch in s:",
            "    if not out or out[-1] != ch:",
            "        out += ch",
            "s = out",
        ],
        "collapse every run of equal adjacent characters into one character",
    )


def _reverse_words(rng: Stream) -> Step:
    return (
        ['s = " ".join(w[::-1] for w in s.split(" "))'],
        "reverse each space-separated word in place",
    )


def _sort_words(rng: Stream) -> Step:
    return ['s = " ".join(sorted(s.split(" ")))'], "sort the space-separated words (by code point)"


def _stride(rng: Stream) -> Step:
    k = rng.between(2, 3)
    return [f"s = s[::{k}]"], f"keep only the characters at positions 0, {k}, {2 * k}, …"


def _double(rng: Stream) -> Step:
    a = rng.choice(LOWER)
    return [f's = s.replace("{a}", "{a}{a}")'], f"double every '{a}'"


def _mask_vowels(rng: Stream) -> Step:
    mark = rng.choice(["*", "#", "_", "?"])
    return (
        [f's = "".join("{mark}" if ch in "{VOWELS}" else ch for ch in s)'],
        f"replace every lower-case vowel (a, e, i, o, u) by '{mark}'",
    )


STEPS: tuple[Callable[[Stream], Step], ...] = (
    _reverse,
    _upper,
    _swapcase,
    _replace,
    _remove,
    _rotate,
    _collapse,
    _reverse_words,
    _sort_words,
    _stride,
    _double,
    _mask_vowels,
)


def _sentence(rng: Stream) -> str:
    return " ".join(words(rng, 2, 5)) + "\n"


def string_pipeline(rng: Stream) -> Program:
    chosen = rng.sample(range(len(STEPS)), rng.between(2, 4))
    steps = [STEPS[i](rng) for i in chosen]
    body = [line for code, _ in steps for line in code]
    prose = "; then ".join(text for _, text in steps)
    counted = False
    out = "print(s)"
    out_text = "the resulting string"
    source = "\n".join(["s = input()", *body, out])
    statement = (
        f"Read one line of text s, then {prose}.\n\nInput: one line of lower-case words "
        f"separated by single spaces.\n\nOutput: {out_text}."
    )
    name = rng.choice(["rewrite", "scramble", "mangle", "convert"])
    fn_source = "\n".join(
        [f"def {name}(s):", *indent(body), f"    return {'len(s)' if counted else 's'}"]
    )
    fn_statement = f"Write a function `{name}(s)` that takes a string s, {prose}, and returns "
    fn_statement += f"{out_text}."

    def args(r: Stream) -> list[object]:
        return [_sentence(r).strip()]

    return Program(
        "string_pipeline",
        source,
        statement,
        _sentence,
        FunctionForm(name, fn_source, fn_statement, args),
    )


def shift_cipher(rng: Stream) -> Program:
    k = rng.between(1, 25)
    upper = rng.below(3)  # 0: shift upper case too, 1: keep it, 2: shift it the other way
    digits = rng.coin()
    lines = [
        "s = input()",
        "out = []",
        "for ch in s:",
        '    if "a" <= ch <= "z":',
        f"        out.append(chr((ord(ch) - 97 + {k}) % 26 + 97))",
    ]
    text = f"shift every lower-case letter {k} places forward in the alphabet (z wraps to a)"
    if upper != 1:
        shift = k if upper == 0 else 26 - k
        lines += [
            '    elif "A" <= ch <= "Z":',
            f"        out.append(chr((ord(ch) - 65 + {shift}) % 26 + 65))",
        ]
        text += ", and every upper-case letter " + (
            f"{k} places forward" if upper == 0 else f"{k} places backward"
        )
    if digits:
        d = rng.between(1, 9)
        lines += ['    elif "0" <= ch <= "9":', f"        out.append(str((int(ch) + {d}) % 10))"]
        text += f", and add {d} to every digit modulo 10"
    lines += ["    else:", "        out.append(ch)", 'print("".join(out))']
    statement = (
        f"Encode a line of text: {text}; every other character stays as it is.\n\nInput: one "
        "line of text.\n\nOutput: the encoded line."
    )

    def make_input(r: Stream) -> str:
        parts = []
        for _ in range(r.between(2, 5)):
            w = word(r, 2, 7)
            if r.below(3) == 0:
                w = w.capitalize()
            if r.below(4) == 0:
                w += str(r.between(0, 99))
            parts.append(w)
        return " ".join(parts) + r.choice(["", ".", "!", "?"]) + "\n"

    return Program("shift_cipher", "\n".join(lines), statement, make_input)


def word_stats(rng: Stream) -> Program:
    mode = rng.below(5)
    n = rng.between(2, 6)
    c = rng.choice(LOWER[:20])
    head = ["ws = input().split()"]
    if mode == 0:
        body = [
            "best = ws[0]",
            "for w in ws:",
            "    if len(w) > len(best):",
            "        best = w",
            "print(best)",
        ]
        text = "the longest word (the first one if several are equally long)"
    elif mode == 1:
        body = [f"long = [w.upper() for w in ws if len(w) > {n}]", "for w in long:", "    print(w)"]
        body.append("print(len(long))")
        text = f"every word longer than {n} letters in upper case, one per line, in order, "
        text += "then a last line with their number"
    elif mode == 2:
        body = ["ws.sort(key=lambda w: (len(w), w))", 'print(" ".join(ws))']
        text = "the words sorted by length, ties in alphabetical order, separated by spaces"
    elif mode == 3:
        body = [
            "counts = {}",
            "for w in ws:",
            "    counts[w] = counts.get(w, 0) + 1",
            "for w in sorted(counts):",
            "    print(w, counts[w])",
        ]
        text = "each distinct word with its number of occurrences, as `word count` lines in "
        text += "alphabetical order"
    else:
        body = [f'hits = [w for w in ws if "{c}" in w]', 'print(len(hits), " ".join(hits))']
        text = f"the number of words containing '{c}', a space, then those words in order "
        text += "separated by spaces"
    statement = (
        "Read a line of words and report on them.\n\nInput: one line of lower-case words "
        f"separated by spaces.\n\nOutput: {text}."
    )
    vocab_size = rng.between(3, 12)

    def make_input(r: Stream) -> str:
        vocab = [word(r, 1, 8) for _ in range(vocab_size)]
        return " ".join(r.choice(vocab) for _ in range(r.between(3, 10))) + "\n"

    return Program(
        "word_stats", "\n".join(head + body), statement, make_input, min_chars=12, min_tokens=3
    )


def run_length(rng: Stream) -> Program:
    count_first = rng.coin()
    skip_ones = rng.coin()
    sep = rng.choice(["", "", "-", " ", ","])
    piece = "str(k) + ch" if count_first else "ch + str(k)"
    if skip_ones:
        piece = f"({piece} if k > 1 else ch)"
    lines = [
        "s = input()",
        "parts = []",
        "i = 0",
        "while i < len(s):",
        "    j = i",
        "    while j < len(s) and s[j] == s[i]:",
        "        j += 1",
        "    ch, k = s[i], j - i",
        f"    parts.append({piece})",
        "    i = j",
        f'print("{sep}".join(parts))',
    ]
    form = "the count followed by the letter" if count_first else "the letter followed by the count"
    if skip_ones:
        form += " (a run of length 1 is written as the letter alone)"
    joined = f"joined by '{sep}'" if sep else "concatenated"
    statement = (
        f"Run-length encode a string: write each maximal run of equal letters as {form}; the "
        f"pieces are {joined}.\n\nInput: one line of lower-case letters.\n\nOutput: the encoding."
    )
    alphabet = "".join(rng.sample(LOWER, rng.between(3, 6)))

    def make_input(r: Stream) -> str:
        runs, last = [], ""
        for _ in range(r.between(4, 9)):
            letter = r.choice([c for c in alphabet if c != last])  # runs stay separate
            runs.append(letter * r.between(1, 6))
            last = letter
        return "".join(runs) + "\n"

    return Program("run_length", "\n".join(lines), statement, make_input)


def brackets(rng: Stream) -> Program:
    pairs = rng.choice(["()", "()[]", "()[]{}", "<>()"])
    depth_mode = rng.below(3) == 0
    numbered = rng.below(3)
    yes, no = rng.choice(
        [("YES", "NO"), ("yes", "no"), ("OK", "BAD"), ("1", "0"), ("balanced", "broken")]
    )
    opens, closes = pairs[0::2], pairs[1::2]
    lines = [
        f"match = {dict(zip(closes, opens, strict=True))!r}",
        "for _ in range(int(input())):",
        "    s = input()",
        "    stack = []",
        "    ok = True",
        "    depth = 0",
        "    for ch in s:",
        f'        if ch in "{opens}":',
        "            stack.append(ch)",
        "            depth = max(depth, len(stack))",
        "        elif not stack or stack.pop() != match[ch]:",
        "            ok = False",
        "            break",
        "    ok = ok and not stack",
    ]
    if depth_mode:
        lines.append("    print(s, depth if ok else -1)")
        text = "for each string, the string itself, a space, then its maximum nesting depth if "
        text += "it is balanced, else -1"
    else:
        if numbered == 0:
            lines.append(f'    print(s, "{yes}" if ok else "{no}")')
            text = f"for each string, the string itself, a space, then {yes} if it is balanced, "
            text += f"else {no}"
        else:
            lines.append(f'    print("{yes}" if ok else "{no}", s)')
            text = f"for each string, {yes} if it is balanced, else {no}, then a space and the "
            text += "string itself"
    shown = " ".join(o + c for o, c in zip(opens, closes, strict=True))
    statement = (
        f"Check bracket strings over the pairs {shown}. "
        "A string is balanced when every closing bracket matches the latest unmatched opening "
        f"bracket of the same kind and none stays open.\n\nInput: the first line holds t; t lines "
        f"follow, each a non-empty string of bracket characters.\n\nOutput: {text}, one per line."
    )

    def make_input(r: Stream) -> str:
        out = []
        for _ in range(r.between(3, 8)):
            if r.coin():  # build a balanced one, sometimes broken afterwards
                s = ""
                for _ in range(r.between(1, 5)):
                    i = r.below(len(opens))
                    s = (s + opens[i] + closes[i]) if r.coin() else (opens[i] + s + closes[i])
            else:
                s = "".join(r.choice(pairs) for _ in range(r.between(1, 8)))
            out.append(s)
        return f"{len(out)}\n" + "\n".join(out) + "\n"

    return Program("brackets", "\n".join(lines), statement, make_input, min_chars=30, min_tokens=4)
