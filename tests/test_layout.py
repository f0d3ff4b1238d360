"""Ring 1: the package's layout (docs/architecture.md) holds.

Read from the source with ``ast``, nothing imported:

- no import cycle among the package's modules, counting imports inside functions (the lazy
  ones that keep InvenTree out of ring 1) as well as module-level ones, relative and absolute;
- only the InvenTree edge imports InvenTree's own modules: ``inventree/``, ``web/``, the
  plugin class, its settings declarations and the worker's task entry points;
- the plugin module loads without the outbox's models: InvenTree imports it whether or not
  app integration (which installs the models) is on;
- no module is so long that it must be doing more than one thing;
- the worker's task entry points stay entry points: only the scheduled sweep imports them, and
  the dotted paths django-q2 stores name them.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = "inventree_notify_plus"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# InvenTree's own top-level modules (its Django apps and its project package).
INVENTREE_MODULES = frozenset(
    {"plugin", "common", "part", "stock", "build", "order", "InvenTree", "users"}
)
# Where InvenTree may be imported: the edge, and the modules InvenTree calls into.
EDGE_PACKAGES = (f"{PACKAGE}.inventree", f"{PACKAGE}.web")
EDGE_MODULES = frozenset({f"{PACKAGE}.plugin", f"{PACKAGE}.settings", f"{PACKAGE}.tasks"})

MAX_LINES = 450


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module ``name`` is, or lies in (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _module_level(tree: ast.AST) -> list[ast.AST]:
    """The nodes run when the module is imported (function bodies left out)."""
    found, todo = [], [tree]
    while todo:
        node = todo.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))
    return found


def imports_of(
    module: str, path: Path, modules: dict[str, Path], module_level: bool = False
) -> tuple[set[str], set[str]]:
    """The package modules ``module`` imports, and the external top-level modules it imports.

    Every ``import`` statement counts, wherever it is (module level, in a function, under
    ``if TYPE_CHECKING``); with ``module_level`` only those run when the module is imported.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    own: set[str] = set()
    external: set[str] = set()
    for node in _module_level(tree) if module_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    own.add(_resolve(alias.name, modules) or PACKAGE)
                else:
                    external.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
                if target.split(".")[0] != PACKAGE:
                    external.add(target.split(".")[0])
                    continue
            for alias in node.names:
                resolved = _resolve(f"{target}.{alias.name}", modules)
                if resolved is not None:
                    own.add(resolved)
    own.discard(module)
    return own, external


def import_graph(module_level: bool = False) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Package module -> the package modules it imports; and -> external modules it imports."""
    modules = module_files()
    graph, external = {}, {}
    for name, path in modules.items():
        graph[name], external[name] = imports_of(name, path, modules, module_level)
    return graph, external


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a path that starts and ends at the same module, or []."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_the_checker_sees_lazy_and_relative_imports():
    graph, external = import_graph()
    # plugin.py imports the intake inside send_notification, InvenTree's registry at the top
    assert f"{PACKAGE}.inventree.intake" in graph[f"{PACKAGE}.plugin"]
    assert "plugin" in external[f"{PACKAGE}.plugin"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_only_the_inventree_edge_imports_inventree():
    _, external = import_graph()
    offenders = {
        module: sorted(names & INVENTREE_MODULES)
        for module, names in external.items()
        if names & INVENTREE_MODULES
        and module not in EDGE_MODULES
        and not module.startswith(EDGE_PACKAGES)
    }
    assert not offenders, f"InvenTree imported outside the edge: {offenders}"


def test_the_plugin_module_loads_without_the_outbox_models():
    graph, _ = import_graph(module_level=True)
    loaded = reachable(graph, f"{PACKAGE}.plugin")
    assert f"{PACKAGE}.inventree.consent" in loaded  # the checker follows module-level imports
    assert f"{PACKAGE}.models" not in loaded, "plugin.py imports the outbox models on load"


def test_no_module_is_too_long():
    too_long = {
        name: lines
        for name, path in module_files().items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_only_the_sweep_imports_the_task_entry_points():
    graph, _ = import_graph()
    importers = sorted(
        module for module, imported in graph.items() if f"{PACKAGE}.tasks" in imported
    )
    assert importers == [f"{PACKAGE}.inventree.scheduled"], importers


def test_the_task_paths_django_q_stores_name_the_entry_points():
    from inventree_notify_plus.inventree import wakeup

    for path in (wakeup.DRAIN_TASK, wakeup.FLUSH_TASK, wakeup.BEST_EFFORT_TASK):
        module, _, name = path.rpartition(".")
        assert module == f"{PACKAGE}.tasks", path
        assert callable(getattr(importlib.import_module(module), name)), path
