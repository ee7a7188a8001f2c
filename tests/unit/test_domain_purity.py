"""The domain imports nothing but the standard library, eventsourcing and attrs."""

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "throne" / "domain"
ALLOWED_THIRD_PARTY = {"eventsourcing", "attrs", "attr"}


def imported_modules(path: pathlib.Path, root: pathlib.Path = ROOT) -> set[str]:
    """Every module the file at ``path`` imports, relative imports resolved against its
    package (``path`` lies under ``root``, where the top-level package starts)."""
    package = list(path.relative_to(root).parts[:-1])  # of a module, or an __init__.py's own
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
                continue
            if node.level > len(package):  # beyond the top-level package: name it as written
                base = "." * node.level
            else:
                base = ".".join(package[: len(package) - node.level + 1]) + "."
            if node.module:
                names.add(base + node.module)
            else:  # ``from .. import x``: x may be a module of that package
                names.update(base + alias.name for alias in node.names)
    return names


def offenders(files: list[pathlib.Path], root: pathlib.Path = ROOT) -> list[str]:
    found = []
    for f in files:
        for name in sorted(imported_modules(f, root)):
            top = name.split(".")[0]
            if name == "throne.domain" or name.startswith("throne.domain."):
                continue
            if name == "__future__" or top in sys.stdlib_module_names:
                continue
            if top in ALLOWED_THIRD_PARTY:
                continue
            found.append(f"{f.relative_to(root)}: {name}")
    return found


def test_domain_imports_only_stdlib_eventsourcing_attrs_and_itself() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) > 5
    assert offenders(files) == []


def test_the_purity_check_catches_adapter_imports_absolute_and_relative(
    tmp_path: pathlib.Path,
) -> None:
    contest = tmp_path / "throne" / "domain" / "contest"
    contest.mkdir(parents=True)
    bad = contest / "bad.py"
    bad.write_text(
        "from throne.adapters.chain import x\n"
        "import httpx\n"
        "from ...projections.standings import y\n"
        "from ... import envs\n"
        "from .... import outside\n"
    )
    fine = contest / "fine.py"
    fine.write_text("from . import rules\nfrom ..queue.roster import z\nimport json\n")
    (contest / "__init__.py").write_text("from .rules import decide\nfrom .. import ids\n")
    assert offenders([bad, fine, contest / "__init__.py"], tmp_path) == [
        "throne/domain/contest/bad.py: ....outside",
        "throne/domain/contest/bad.py: httpx",
        "throne/domain/contest/bad.py: throne.adapters.chain",
        "throne/domain/contest/bad.py: throne.envs",
        "throne/domain/contest/bad.py: throne.projections.standings",
    ]
    assert imported_modules(fine, tmp_path) == {
        "throne.domain.contest.rules",
        "throne.domain.queue.roster",
        "json",
    }
    assert imported_modules(contest / "__init__.py", tmp_path) == {
        "throne.domain.contest.rules",
        "throne.domain.ids",
    }
