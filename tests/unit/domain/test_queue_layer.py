"""The queue is the lower layer: the contest builds on it, it knows nothing of the contest."""

import ast
import pathlib

QUEUE = pathlib.Path(__file__).resolve().parents[3] / "throne" / "domain" / "queue"


def test_no_module_of_the_queue_imports_the_contest() -> None:
    offenders = []
    for path in sorted(QUEUE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else [f".{node.module or ''}"]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if "contest" in n]
    assert len(list(QUEUE.rglob("*.py"))) >= 3
    assert offenders == []
