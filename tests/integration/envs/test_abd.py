from __future__ import annotations

from throne.envs.abd import AbdEnvironment, heuristic_valid
from throne.envs.base import MAX_RESPONSE_CHARS
from throne.envs.compare import equivalent
from throne.envs.corpus.catalog import FAMILIES
from throne.envs.corpus.program import run_trusted
from throne.envs.extract import extract_input
from throne.envs.prng import Stream
from throne.envs.sandbox import ForkServerSandbox


def test_the_hidden_input_and_its_wrong_variants_score_one_and_zero(abd: AbdEnvironment) -> None:
    for task_id in range(12):
        task = abd.task(task_id)
        assert abd.evaluate(task, abd.reference_answer(task)).score == 1.0, task.data["family"]
        assert abd.evaluate(task, abd.wrong_answer(task, task_id)).score == 0.0


def test_any_input_producing_the_output_counts_not_only_the_hidden_one(
    abd: AbdEnvironment,
) -> None:
    for task_id in range(100):
        task = abd.task(task_id)
        program, _, _ = abd._draw(task_id)
        for k in range(200):
            other = program.make_input(Stream(f"other:{task_id}:{k}"))
            same = equivalent(run_trusted(program.source, other), task.data["expected_output"])
            if other != task.data["stdin"] and same:
                assert abd.evaluate(task, f"<INPUT>\n{other}</INPUT>").score == 1.0
                return
    raise AssertionError("no task with a second input giving the same output")


def test_malformed_empty_and_huge_answers_score_zero(abd: AbdEnvironment) -> None:
    task = abd.task(3)
    good = abd.reference_answer(task)
    assert abd.evaluate(task, good.replace("<INPUT>", "").replace("</INPUT>", "")).score == 0.0
    assert abd.evaluate(task, "<INPUT></INPUT>").score == 0.0
    assert abd.evaluate(task, "").score == 0.0
    assert abd.evaluate(task, good + " " * MAX_RESPONSE_CHARS).score == 0.0
    huge = "<INPUT>\n" + "9" * 150_000 + "\n</INPUT>"
    assert abd.evaluate(task, huge).score == 0.0


def test_a_line_count_too_long_for_int_fails_the_heuristic_and_raises_nothing(
    abd: AbdEnvironment,
) -> None:
    looped = "for _ in range(int(input())):\n    print(input())"
    assert heuristic_valid(looped, "9" * 5000 + "\n1") is False
    task = next(
        t for t in map(abd.task, range(200)) if "for _ in range(int(input()))" in t.data["program"]
    )
    assert abd.evaluate(task, "<INPUT>\n" + "9" * 5000 + "\n1\n</INPUT>").score == 0.0


def test_the_last_input_block_outside_think_blocks_is_the_answer(abd: AbdEnvironment) -> None:
    task = abd.task(5)
    good, bad = abd.reference_answer(task), abd.wrong_answer(task, 1)
    assert abd.evaluate(task, f"{bad}\nno wait:\n{good}").score == 1.0
    assert abd.evaluate(task, f"{good}\nno wait:\n{bad}").score == 0.0
    assert abd.evaluate(task, f"{bad}<think>{good}</think>").score == 0.0


def test_input_extraction_trims_lines_and_trailing_blank_lines() -> None:
    assert extract_input("x <input>\n 3  \nab \n\n</input> y") == "3\nab"
    assert extract_input("<think><INPUT>1</INPUT></think>") is None


def test_the_line_count_heuristic_rejects_inputs_too_short_for_the_program() -> None:
    loop = "for _ in range(int(input())):\n    print(input())"
    assert heuristic_valid(loop, "2\na\nb")
    assert not heuristic_valid(loop, "3\na\nb")
    assert heuristic_valid("a = input()\nb = input()", "1\n2")
    assert not heuristic_valid("a = input()\nb = input()", "1")


def test_expected_outputs_match_real_runs_in_the_sandbox_for_every_family(
    abd: AbdEnvironment, sandbox: ForkServerSandbox
) -> None:
    # The corpus computes outputs in-process; the sandbox must agree, family by family.
    wanted = {build.__name__ for build, _ in FAMILIES}
    seen: set[str] = set()
    for task_id in range(400):
        task = abd.task(task_id)
        family = task.data["family"]
        if family in seen:
            continue
        result = sandbox.run(task.data["program"], task.data["stdin"])
        assert result.clean and result.stdout == task.data["expected_output"], family
        seen.add(family)
        if seen == wanted:
            break
    assert seen == wanted


def test_prompts_show_program_and_output_and_locate_the_task(abd: AbdEnvironment) -> None:
    task = abd.task(77)
    assert task.data["program"] in task.prompt
    assert task.data["expected_output"].rstrip() in task.prompt
    assert task.data["stdin"].strip() not in task.prompt.split("Expected output:")[1]
    assert "<INPUT>" in task.prompt
    assert abd.locate(task.prompt) == 77
    assert abd.locate(task.prompt.replace("#77]", "#99999999]")) is None
