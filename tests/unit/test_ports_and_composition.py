"""Ports live in throne/ports, one module each, as Protocols that depend on nothing outside;
only the composition root builds adapters, and asking it costs a command no adapter import."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

THRONE = pathlib.Path(__file__).resolve().parents[2] / "throne"
PORTS = THRONE / "ports"

#: Where an adapter may be built besides its own package, and why.
BUILDERS = {
    "app": "the composition root",
    "demo": "stages a world (a chain and its cast, a loopback Hub, local miner engines) and "
    "hands it to build, as the tests do",
    "audit/rescore.py": "re-scores from the responses of the database it audits; to take its "
    "store from the composition root with the audit's sources (issue 12, item 3)",
}
#: What a command that asks the composition root for one adapter must not pay to import.
HEAVY = ("aiohttp", "bittensor", "eventsourcing", "psycopg", "sqlalchemy", "starlette", "uvicorn")


def parse(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def camel(stem: str) -> str:
    return "".join(part.capitalize() for part in stem.split("_"))


def adapters_in(tree: ast.Module) -> set[str]:
    """Classes that name a port (a name imported from throne.ports) among their bases."""
    ports = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("throne.ports")
        for alias in node.names
    }
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id in ports for b in node.bases)
    }


def constructions(tree: ast.Module, adapters: set[str]) -> list[str]:
    """Calls of an adapter class, or of one of its class methods (``LocalChain.init``)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            func = func.value
        if isinstance(func, ast.Name) and func.id in adapters:
            found.append(f"{func.id} (line {node.lineno})")
    return found


def test_each_port_module_holds_its_port_as_a_protocol() -> None:
    modules = sorted(p for p in PORTS.glob("*.py") if p.name != "__init__.py")
    assert len(modules) >= 9
    for path in modules:
        classes = {n.name: n for n in ast.walk(parse(path)) if isinstance(n, ast.ClassDef)}
        port = classes.get(camel(path.stem))
        assert port is not None, f"{path.name} defines no {camel(path.stem)}"
        bases = [b.id for b in port.bases if isinstance(b, ast.Name)]
        assert bases == ["Protocol"], f"{port.name} is not a Protocol"


def test_ports_import_only_the_standard_library_the_domain_and_each_other() -> None:
    offenders = []
    for path in sorted(PORTS.glob("*.py")):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name == "__future__" or name.split(".")[0] in sys.stdlib_module_names:
                    continue
                if not name.startswith(("throne.ports", "throne.domain")):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_only_the_composition_root_builds_adapters() -> None:
    trees = {path: parse(path) for path in sorted(THRONE.rglob("*.py"))}
    adapters = {name: path.parent for path, tree in trees.items() for name in adapters_in(tree)}
    assert {"LocalChain", "SqlResponseStore", "ForkServerSandbox", "StaticModelHub"} <= set(
        adapters
    )
    offenders = []
    for path, tree in trees.items():
        where = path.relative_to(THRONE)
        if any(where.as_posix() == b or where.parts[0] == b for b in BUILDERS):
            continue
        for call in constructions(tree, set(adapters)):
            home = adapters[call.split()[0]]
            if home not in path.parents:  # an adapter's own package may build it
                offenders.append(f"{where}: {call}")
    assert offenders == []


def test_the_check_finds_an_adapter_built_outside_the_root() -> None:
    adapter = ast.parse("from throne.ports.chain import Chain\nclass LocalChain(Chain): ...\n")
    assert adapters_in(adapter) == {"LocalChain"}
    command = ast.parse("def open(p):\n    LocalChain(p)\n    return LocalChain.init(p)\n")
    assert constructions(command, {"LocalChain"}) == ["LocalChain (line 2)", "LocalChain (line 3)"]


def test_asking_the_composition_root_imports_no_adapter() -> None:
    probe = "import sys, throne.app; print(sorted(set(sys.modules) & set(sys.argv[1:])))"
    out = subprocess.run(
        [sys.executable, "-c", probe, *HEAVY], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
