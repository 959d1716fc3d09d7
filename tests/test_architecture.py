"""The layers of docs/ARCHITECTURE.md, enforced: which subpackage may import which, what
stays free of Airflow, and how long a function may grow.

Imports are read from the source (``ast``), lazy ones inside functions included: a lazy
import is still a dependency, it only moves the cost to the first call.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "plugins" / "jira_esm_connector"
PACKAGE_NAME = "jira_esm_connector"

# Subpackages that must run without Airflow installed: plain Python that tests call directly.
AIRFLOW_FREE = ("http", "jira", "esm", "config", "mapping", "state", "pipeline", "events")
MAX_FUNCTION_LINES = 100


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            # ``from . import x`` / ``from .pkg import sub``: x may be a subpackage
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _subpackage(name: str) -> str | None:
    """``jira_esm_connector.pipeline.load`` -> ``pipeline``; top-level modules count as
    themselves (``jira_esm_connector.markers`` -> ``markers``)."""
    parts = name.split(".")
    if parts[0] != PACKAGE_NAME or len(parts) < 2:
        return None
    return parts[1]


def _dependency_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _modules(PACKAGE):
        own = _subpackage(_module_name(path))
        if own is None:
            continue
        deps = graph.setdefault(own, set())
        for name in _imports(path):
            other = _subpackage(name)
            if other and other != own and ((PACKAGE / other).is_dir() or (PACKAGE / f"{other}.py").exists()):
                deps.add(other)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_cycle_between_the_packages_subpackages():
    cycle = _cycle(_dependency_graph())
    assert cycle is None, "import cycle between subpackages: " + " -> ".join(cycle or [])


def test_the_graph_is_read_at_all():
    # the checks above mean nothing if the reader finds no edges
    graph = _dependency_graph()
    assert {"pipeline", "events", "jira", "esm", "state"} <= set(graph)
    assert "http" in graph["jira"] and "mapping" in graph["pipeline"]


@pytest.mark.parametrize("subpackage", AIRFLOW_FREE)
def test_plain_layers_import_nothing_from_airflow(subpackage):
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {name}"
        for path in _modules(PACKAGE / subpackage)
        for name in sorted(_imports(path))
        if name == "airflow" or name.startswith("airflow.")
    ]
    assert not offenders, "Airflow imported where plain Python is promised:\n" + "\n".join(offenders)


def test_pipeline_and_events_do_not_import_each_other():
    graph = _dependency_graph()
    assert "events" not in graph["pipeline"] and "pipeline" not in graph["events"]


def test_connector_code_never_imports_the_dev_tools():
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {name}"
        for path in _modules(REPO_ROOT / "plugins")
        for name in sorted(_imports(path))
        if name == "devtools" or name.startswith("devtools.") or name == "tests" or name.startswith("tests.")
    ]
    assert not offenders, "connector code importing dev tools or tests:\n" + "\n".join(offenders)


def _long_functions(root: Path) -> list[str]:
    out = []
    for path in _modules(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({length} lines)")
    return out


@pytest.mark.parametrize("folder", ["plugins", "devtools", "bench"])
def test_no_function_is_longer_than_100_lines(folder):
    long = _long_functions(REPO_ROOT / folder)
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (split them):\n" + "\n".join(long)


def test_the_length_check_finds_a_long_function(tmp_path):
    (tmp_path / "m.py").write_text("def short():\n    pass\n\n\ndef long():\n" + "    x = 1\n" * 120)
    assert [line.split(" ")[1] for line in _long_functions(tmp_path)] == ["long"]
