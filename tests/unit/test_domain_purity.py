"""The domain imports nothing but the standard library, eventsourcing and attrs."""

import ast
import pathlib
import sys

DOMAIN = pathlib.Path(__file__).resolve().parents[2] / "throne" / "domain"
ALLOWED_THIRD_PARTY = {"eventsourcing", "attrs", "attr"}


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_only_stdlib_eventsourcing_attrs_and_itself() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) > 5
    offenders = []
    for f in files:
        for name in imported_modules(f):
            top = name.split(".")[0]
            if name.startswith("throne.domain") or name == "__future__":
                continue
            if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                continue
            offenders.append(f"{f.relative_to(DOMAIN)}: {name}")
    assert offenders == []


def test_the_purity_check_catches_an_adapter_import(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from throne.adapters.chain import x\nimport httpx\n")
    assert imported_modules(bad) == {"throne.adapters.chain", "httpx"}
