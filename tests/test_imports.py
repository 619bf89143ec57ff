"""The package's modules import one another without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import async_ingest

PACKAGE = Path(async_ingest.__file__).parent


def _imports(tree: ast.AST) -> set[str]:
    """The package's modules that *tree* imports anywhere (in functions too), except under TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            found |= set().union(*(_imports(child) for child in node.orelse))
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
            elif node.level == 0 and (node.module or "").startswith("async_ingest."):
                found.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("async_ingest.")}
        found |= _imports(node)
    return found


def test_no_import_cycle() -> None:
    """No module imports itself through others, even in a deferred import: the worker's side imports
    the Ingestor, and the pool the Ingestor owns does not (imports for type checking aside)."""
    graph = {path.stem: _imports(ast.parse(path.read_text())) - {path.stem} for path in PACKAGE.glob("*.py")}
    assert "_ingestor" in graph["_worker"]
    assert "_workers" in graph["_ingestor"]

    def cycle_from(module: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        for imported in sorted(graph.get(module, ())):
            if imported in path:
                return (*path[path.index(imported) :], imported)
            if (found := cycle_from(imported, (*path, imported))) is not None:
                return found
        return None

    cycles = {module: cycle_from(module, (module,)) for module in graph}
    assert {module: cycle for module, cycle in cycles.items() if cycle} == {}
