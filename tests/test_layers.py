"""The package's import graph has no cycles, counting every import: module level,
inside functions and under TYPE_CHECKING. Layers stay layers only if this holds."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "llmspell"


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module → the llmspell modules it imports (a package import counts as its __init__)."""
    files = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = mod if is_pkg else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            for t in targets:
                # `from . import x` may name a submodule; otherwise the longest known prefix
                while t and t not in files:
                    t = t.rpartition(".")[0]
                if t and t != mod and t.split(".")[0] == "llmspell":
                    graph[mod].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_is_in_an_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" ↔ ".join(c) for c in found)


@pytest.mark.parametrize("lower,upper", [
    ("llmspell.core", "llmspell.runtime"),
    ("llmspell.core", "llmspell.engines"),
    ("llmspell.core", "llmspell.api"),
    ("llmspell.core", "llmspell.cli"),
    ("llmspell.api", "llmspell.engines"),
    ("llmspell.bridge", "llmspell.engines"),
    ("llmspell.engines", "llmspell.runtime"),
    ("llmspell.tools", "llmspell.runtime"),
    ("llmspell.storage", "llmspell.runtime"),
])
def test_lower_layers_do_not_import_upper_ones(lower: str, upper: str) -> None:
    graph = import_graph()
    bad = sorted(f"{m} → {t}" for m, ts in graph.items() if m == lower or m.startswith(lower + ".")
                 for t in ts if t == upper or t.startswith(upper + "."))
    assert not bad, "\n".join(bad)
