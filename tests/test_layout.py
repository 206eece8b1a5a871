"""The package layout stays readable: imports point one way, modules stay small.

Every ``import`` and ``from ... import`` counts, at module level or inside a
function (a lazy import is still a dependency a reader has to hold in mind).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("esl_connector", "storage", "tui")
MAX_LINES = 400


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _imported(name: str, path: Path, node: ast.Import | ast.ImportFrom, modules) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(name, path, node, modules):
                    while target not in modules and "." in target:
                        target = target.rpartition(".")[0]
                    if target in modules and target != name:
                        deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for dep in graph[node]:
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in on_stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "esl_connector.esl.protocol" in graph["esl_connector.calls.legs"]        # relative, module level
    assert "esl_connector.records" in graph["storage.rows"]                         # absolute
    assert "esl_connector.delivery.admin" in graph["esl_connector.api.status"]     # from package import module


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_projects_modules():
    assert cycles(import_graph()) == []


def test_settings_import_no_feature():
    base = ("esl_connector", "esl_connector.records")
    for name, deps in import_graph().items():
        if name.startswith("esl_connector.settings."):
            features = sorted(d for d in deps if d not in base and not d.startswith("esl_connector.settings."))
            assert features == [], f"{name} imports {features}"


def test_the_call_tracker_does_no_io():
    io_layers = ("storage", "esl_connector.delivery", "esl_connector.api", "esl_connector.esl.client",
                 "esl_connector.esl.connection")
    for name, deps in import_graph().items():
        if name.startswith("esl_connector.calls"):
            assert not [d for d in deps if d.startswith(io_layers)], name


def test_no_module_is_over_the_size_budget():
    too_long = {name: n for name, path in project_modules().items()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert too_long == {}


def test_the_simulator_stands_apart_from_the_connector():
    """A FreeSWITCH stand-in: it may decode like the client does, nothing more."""
    for name, deps in import_graph().items():
        if name.startswith("esl_connector.simulator"):
            outside = sorted(d for d in deps if not d.startswith("esl_connector.simulator"))
            assert set(outside) <= {"esl_connector.esl.protocol", "esl_connector"}, f"{name} imports {outside}"


def test_the_tui_imports_nothing_of_the_connector():
    """A separate process and a client of the status API like any other."""
    for name, deps in import_graph().items():
        if name.startswith("tui"):
            bad = sorted(d for d in deps if d.startswith(("esl_connector", "storage")))
            assert bad == [], f"{name} imports {bad}: the TUI talks to the connector over HTTP only"
