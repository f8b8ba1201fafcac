"""The package's layers, read from its import statements: data flows one way, and no cycle.

request -> protocols (encode, pages, rows) -> frame -> (accessor | views | transfer); the facade
(catalogue, client, _api, accessor, dask, cli) sits on top and nothing below imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "terracat"
FACADE = {
    "terracat",
    "terracat._api",
    "terracat.catalogue",
    "terracat.client",
    "terracat.accessor",
    "terracat.dask",
    "terracat.cli",
    "terracat.products",
}


def _module(path: Path) -> str:
    """``terracat/frame/io.py`` -> ``terracat.frame.io``; a package by its ``__init__``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from terracat import _defaults` imports a module
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    return {name for name in found if name == "terracat" or name.startswith("terracat.")}


MODULES.update((_module(path), path) for path in sorted(PACKAGE.rglob("*.py")))


def _graph(*, top_level_only: bool) -> dict[str, set[str]]:
    return {
        name: {i for i in _imports(path, top_level_only=top_level_only) if i in MODULES} - {name}
        for name, path in MODULES.items()
    }


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("terracat.protocols", FACADE),
        ("terracat.frame", FACADE | {"terracat.protocols", "terracat.transfer"}),
        ("terracat.transfer", FACADE | {"terracat.protocols", "terracat.frame"}),
        (
            "terracat.request",
            FACADE | {"terracat.protocols", "terracat.frame", "terracat.transfer"},
        ),
        ("terracat.server", FACADE),
    ],
)
def test_no_layer_imports_what_sits_above_it(layer, forbidden):
    graph = _graph(top_level_only=False)
    offending = {
        (module, imported)
        for module, imports in graph.items()
        if module == layer or module.startswith(layer + ".")
        for imported in imports
        if any(imported == f or imported.startswith(f + ".") for f in forbidden - {"terracat"})
        or imported == "terracat"
    }
    assert not offending


def test_the_modules_import_each_other_without_a_cycle():
    graph = _graph(top_level_only=True)
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting[visiting.index(module) :], module])
        visiting.append(module)
        for imported in sorted(graph[module]):
            if not module.startswith(imported + "."):  # a package's __init__ runs first anyway
                visit(imported)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert len(done) == len(MODULES) > 40


def test_the_facade_reaches_a_protocol_through_the_backend_only():
    protocol_modules = {m for m in MODULES if m.startswith("terracat.protocols.opensearch")}
    for facade in FACADE - {"terracat"}:
        reached = _imports(MODULES[facade], top_level_only=False) & protocol_modules
        assert not reached, (facade, reached)
