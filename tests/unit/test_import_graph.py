"""Dependencies run one way: the LSP layer (server, protocol, handlers, CLI) -> services -> pipeline
stages. A test walks every import in ``lsp_server`` (deferred ones too) and fails on a cycle or
on a stage or service reaching up."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lsp_server"
LSP_LAYER = (
    "lsp_server.server",
    "lsp_server.protocol",
    "lsp_server.handlers",
    "lsp_server.cli",
    "lsp_server.__main__",
)
SERVICES = ("lsp_server.services",)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The ``lsp_server`` modules ``name`` imports, anywhere in its source."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    # A module importing its own package (its __init__) is no edge of design: the package
    # re-exports its modules and they see each other through it.
    return {m for m in found if m in MODULES and m != name and not name.startswith(m + ".")}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name: str) -> int:
    if name.startswith(LSP_LAYER):
        return 2
    return 1 if name.startswith(SERVICES) else 0


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return out


def test_the_import_graph_has_no_cycle():
    assert _cycles() == []


def test_no_module_imports_a_layer_above_it():
    upward = [
        f"{importer} -> {imported}"
        for importer, targets in GRAPH.items()
        for imported in targets
        if _layer(imported) > _layer(importer)
    ]
    assert upward == []


def test_only_the_cli_imports_the_server_module():
    importers = sorted(m for m, targets in GRAPH.items() if "lsp_server.server" in targets)
    assert importers == ["lsp_server.cli"]


def test_the_walk_sees_the_layers():
    """The checks above would pass on an empty graph: the walk must see real edges."""
    assert "lsp_server.services" in GRAPH["lsp_server.handlers"]
    assert "lsp_server.completion" in GRAPH["lsp_server.services.completions"]
    assert "lsp_server.handlers" in GRAPH["lsp_server.server"]


def test_a_handler_module_imports_without_the_server():
    code = "import sys, lsp_server.handlers.actions; print('lsp_server.server' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
