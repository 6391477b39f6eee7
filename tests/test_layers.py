"""The house reads top-down: layers as folders, no import cycle, no lower layer importing a higher one, and
the library knows nothing of its test package. Read from the source (ast), so an import inside a function
counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "harness"

#: The layers, lowest first; a module may import its own layer and those below it. The front doors
#: (plugin, cli, console, the package's face) sit on top of everything.
LAYERS = ("config", "wire", "payloads", "sending", "judging", "output", "run")
FRONT_DOORS = {"harness", "harness.plugin", "harness.cli", "harness.console", "harness.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(HARNESS.rglob("*.py"))}


def _imports(path: Path, known: set[str]) -> set[str]:
    """The harness modules ``path`` imports, wherever in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, known) - {name} for name, path in modules.items()}


def _layer(module: str) -> int:
    if module in FRONT_DOORS:
        return len(LAYERS)
    return LAYERS.index(module.split(".")[1])


def test_every_module_is_in_a_layer_or_a_front_door() -> None:
    strays = [m for m in _modules() if m not in FRONT_DOORS and m.split(".")[1] not in LAYERS]
    assert strays == []


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{module} ({LAYERS[_layer(module)] if _layer(module) < len(LAYERS) else 'front door'}) imports {imported}"
        for module, imported_set in _graph().items()
        for imported in sorted(imported_set)
        if imported not in ("harness",) and _layer(imported) > _layer(module)
    ]
    assert upward == []


def test_no_import_cycle() -> None:
    graph = _graph()
    # The package's face only re-exports lazily (harness.check imports the engine when called).
    graph = {m: {i for i in deps if i != "harness"} for m, deps in graph.items()}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_library_never_names_its_test_package() -> None:
    mentions = [str(p) for p in HARNESS.rglob("*.py") if "conformance_tests" in p.read_text(encoding="utf-8")]
    assert mentions == []


def test_the_check_above_catches_an_upward_import(tmp_path: Path) -> None:
    # The detector itself can fail: a config module importing the engine is an upward import.
    source = tmp_path / "m.py"
    source.write_text("from harness.run.engine import Engine\nimport harness.wire.transport\n")
    assert _imports(source, set(_modules())) == {"harness.run.engine", "harness.wire.transport"}
    assert _layer("harness.run.engine") > _layer("harness.config.settings")


@pytest.mark.parametrize("module", sorted(m for m in _modules() if m not in FRONT_DOORS))
def test_core_module_imports_no_pytest(module: str) -> None:
    tree = ast.parse(_modules()[module].read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"pytest", "_pytest"}
