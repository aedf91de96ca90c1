"""Architecture rules for the ``ppl`` package, read from the source with :mod:`ast`.

- No import cycles: the graph of imports between modules of ``ppl/`` has no strongly connected
  component of more than one module. Every ``import`` and ``from ... import`` counts, at the top
  of a module, inside a function or under ``if TYPE_CHECKING`` (a deferred import still ties
  the two modules together); relative imports are resolved, and ``from pkg import module`` is
  an edge to that module.
- No module over :data:`MAX_LINES` lines.
- No private name (a leading underscore) imported from another module of ``ppl``: what a module
  offers the others is its public names.

Nothing is imported from ``ppl`` here, so the rules hold for the source tree next to the tests.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ppl"
MAX_LINES = 600


# ----------------------------------------------------------------------------- reading imports


def module_name(path: Path, package: Path) -> str:
    """The dotted name of the module at ``path`` (a package's ``__init__.py`` is the package)."""
    parts = (package.name, *path.relative_to(package).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(package: Path) -> dict[str, Path]:
    """Every module of ``package`` (a folder with ``__init__.py``), by dotted name."""
    return {module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def absolute_base(node: ast.ImportFrom, importer: str, importer_is_package: bool) -> str:
    """The module that ``from <base> import ...`` names, relative imports resolved."""
    if node.level == 0:
        return node.module or ""
    # ``from . import x`` in a package's __init__ is relative to the package itself; in a plain
    # module it is relative to the package that holds the module.
    parts = importer.split(".") if importer_is_package else importer.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def known_module(name: str, modules: Mapping[str, Path]) -> str | None:
    """``name`` if it is a module of the package, else its longest prefix that is (``import
    ppl.x.y`` of a name inside a module), else None (outside the package)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(importer: str, modules: Mapping[str, Path]
               ) -> Iterator[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every import in ``importer``
    that reaches a module of the package, wherever the import statement stands."""
    path = modules[importer]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = known_module(alias.name, modules)
                if target is not None:
                    yield target, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = absolute_base(node, importer, is_package(path))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:  # ``from pkg import module``: the module itself
                    yield submodule, None, node.lineno
                    continue
                target = known_module(base, modules)
                if target is not None:
                    yield target, alias.name, node.lineno


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the other modules of the package it imports."""
    return {name: {target for target, _, _ in imports_of(name, modules) if target != name}
            for name in modules}


# ----------------------------------------------------------------------------- cycles


def strongly_connected_components(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit to meet on a deep graph)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    advanced = True
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                lowlink[parent] = min(lowlink[parent], lowlink[node])
            if lowlink[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def shortest_cycle(graph: Mapping[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of ``component`` (breadth-first inside the
    component), as the modules in import order, the first repeated at the end."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if successor not in previous:
                    previous[successor] = node
                    following.append(successor)
        frontier = following
    return [start]


def import_cycles(graph: Mapping[str, set[str]]) -> list[str]:
    """One line per strongly connected component of more than one module: its members and one
    cycle through them."""
    return [f"{', '.join(component)} (e.g. {' -> '.join(shortest_cycle(graph, component))})"
            for component in strongly_connected_components(graph) if len(component) > 1]


# ----------------------------------------------------------------------------- the rules


def test_no_import_cycles():
    cycles = import_cycles(import_graph(package_modules(PACKAGE)))
    assert not cycles, "import cycles in ppl/:\n" + "\n".join(cycles)


def test_no_module_over_the_line_limit():
    long = [f"{path.relative_to(PACKAGE.parent)}: {lines} lines"
            for path in sorted(PACKAGE.rglob("*.py"))
            if (lines := len(path.read_text().splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines:\n" + "\n".join(long)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_private_name_imported_across_modules():
    modules = package_modules(PACKAGE)
    crossings = [f"{modules[importer].relative_to(PACKAGE.parent)}:{line}: "
                 f"from {target} import {name}"
                 for importer in modules
                 for target, name, line in imports_of(importer, modules)
                 if target != importer and is_private(name or target.rsplit(".", 1)[-1])]
    assert not crossings, "private names imported from another module:\n" + "\n".join(crossings)


# ----------------------------------------------------------------------------- the checker itself


def write_package(root: Path, files: Mapping[str, str]) -> Path:
    """A package ``pkg`` under ``root`` with the given ``relative path -> source`` files."""
    for relative, source in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root / "pkg"


def test_the_graph_sees_every_kind_of_import(tmp_path):
    package = write_package(tmp_path, {
        "__init__.py": "from pkg.a import thing\n",
        "a.py": "def f():\n    from . import b\n",
        "b.py": "from .sub.c import name\n",
        "sub/__init__.py": "",
        "sub/c.py": "import pkg.sub\nfrom .. import d\nfrom ..a import _hidden\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a.f\n",
    })
    graph = import_graph(package_modules(package))
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub.c"},
                     "pkg.sub": set(), "pkg.sub.c": {"pkg.sub", "pkg.d", "pkg.a"},
                     "pkg.d": {"pkg.a"}}
    cycles = import_cycles(graph)
    assert cycles == ["pkg.a, pkg.b, pkg.d, pkg.sub.c "
                      "(e.g. pkg.a -> pkg.b -> pkg.sub.c -> pkg.a)"]
    modules = package_modules(package)
    assert ("pkg.a", "_hidden", 3) in set(imports_of("pkg.sub.c", modules))


def test_an_acyclic_package_has_no_cycles(tmp_path):
    package = write_package(tmp_path, {"__init__.py": "", "a.py": "from pkg import b\n",
                                       "b.py": "import os\n"})
    assert import_cycles(import_graph(package_modules(package))) == []


# ----------------------------------------------------------------------------- backends


def backend_modules(modules: Mapping[str, Path]) -> set[str]:
    """The modules of ``ppl.backends`` that define a backend: a class with a ``name`` and a
    ``run`` method."""
    found = set()
    for module, path in modules.items():
        if not module.startswith("ppl.backends."):
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                assigned = {target.id for item in node.body if isinstance(item, ast.Assign)
                            for target in item.targets if isinstance(target, ast.Name)}
                methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
                if "name" in assigned and "run" in methods:
                    found.add(module)
    return found


def test_no_backend_imports_another_backend():
    """docs/architecture.md: shared optimisation and diagnostics (L-BFGS, Laplace, Pareto k)
    are imported from ``ppl/backends/optimise.py``, never from another backend."""
    modules = package_modules(PACKAGE)
    backends = backend_modules(modules)
    assert backends == {f"ppl.backends.{name}" for name in
                        ("nuts", "advi", "map", "smc", "pathfinder", "gpss", "vi",
                         "consensus", "split_gibbs")}
    crossings = [f"{modules[importer].relative_to(PACKAGE.parent)}:{line}: imports {target}"
                 for importer in sorted(backends)
                 for target, _, line in imports_of(importer, modules)
                 if target in backends and target != importer]
    assert not crossings, "a backend imports another backend:\n" + "\n".join(crossings)
    users = {importer for importer in backends
             if any(target == "ppl.backends.optimise"
                    for target, _, _ in imports_of(importer, modules))}
    assert {"ppl.backends.advi", "ppl.backends.map", "ppl.backends.smc"} <= users
