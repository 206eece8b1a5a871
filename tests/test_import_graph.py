"""The TUI stays a separate client: it imports nothing of the connector, and
its modules import each other without a cycle. Read from the source (ast),
so nothing is imported to check it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("esl_connector", "storage", "tui")


def module_files() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module named by an import statement of ``path`` (relative ones resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            named.add(module)
            named.update(f"{module}.{alias.name}" for alias in node.names)
    return named


def graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: {m for m in imports_of(name, path) if m in files} for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_tui_imports_nothing_of_the_connector():
    for name, path in module_files().items():
        if name.split(".")[0] == "tui":
            bad = {m for m in imports_of(name, path) if m.split(".")[0] in ("esl_connector", "storage")}
            assert not bad, f"{name} imports {sorted(bad)}: the TUI talks to the connector over HTTP only"


def test_no_import_cycle_in_the_tui_or_the_status_api():
    edges = graph()
    tui_edges = {k: {m for m in v if m.startswith("tui")} for k, v in edges.items() if k.startswith("tui")}
    assert cycles(tui_edges) == []
    for group in cycles(edges):
        assert not any(m.startswith("tui") or m in ("esl_connector.status_metrics", "esl_connector.demo")
                       for m in group), group


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
