"""The package's layers: helpers/<layer>/ modules import only their own layer and the layers
below it, never a private name of another module, and no two modules import each other, even
through others (every import counts, also those inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers.core.config import PROJECT_ROOT

LAYERS = {
    # layer: what it may import besides itself
    "core": set(),
    "data": {"core"},
    "modeling": {"core", "data"},
    "analysis": {"core", "data", "modeling"},
    "experiments": {"core", "data", "modeling", "analysis"},
    "sections": {"core", "data", "modeling", "analysis", "experiments"},
    "pipeline": {"core", "data", "modeling", "analysis", "experiments", "sections"},
    "predict": {"core", "data", "modeling", "analysis"},
}
"""The layers from the bottom up; predict (make predict) sits on modeling and analysis only."""


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, package_root: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of helpers.* in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "helpers" or node.module.startswith("helpers."):
                found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("helpers."):
                    found.append((alias.name, [], node.lineno))
    return found


def graph(root: Path) -> dict[str, list[tuple[str, list[str], int]]]:
    """{module: its helpers imports} for every module under root/helpers. An import of a
    package's submodule (`from helpers.sections import display`) counts as that submodule."""
    package = root / "helpers"
    modules = {module_name(p, root): p for p in package.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        resolved = []
        for target, names, line in imports(path, package):
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            if subs:
                resolved.extend((s, [], line) for s in subs)
            else:
                resolved.append((target, names, line))
        edges[name] = resolved
    return edges


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_violations(edges) -> list[str]:
    bad = []
    for module, targets in edges.items():
        layer = layer_of(module)
        if layer is None:
            continue
        if layer not in LAYERS:
            bad.append(f"{module}: not in a known layer ({', '.join(LAYERS)})")
            continue
        for target, _, line in targets:
            other = layer_of(target)
            if other is not None and other != layer and other not in LAYERS[layer]:
                bad.append(f"{module}:{line} imports {target} ({layer} may not import {other})")
    return bad


def private_imports(edges) -> list[str]:
    return [f"{module}:{line} imports {name} from {target}"
            for module, targets in edges.items() for target, names, line in targets
            for name in names if name.startswith("_") and target != module]


def cycles(edges) -> list[list[str]]:
    """Every import circle, each once (Tarjan's strongly connected components)."""
    graph_ = {m: sorted({t for t, _, _ in ts if t in edges and t != m}) for m, ts in edges.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph_[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph_:
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def edges():
    return graph(PROJECT_ROOT)


def test_every_module_sits_in_a_layer(edges):
    loose = [m for m in edges if m != "helpers" and layer_of(m) not in LAYERS]
    assert not loose, f"modules outside the layers {list(LAYERS)}: {loose}"


def test_lower_layers_never_import_upper_ones(edges):
    assert layer_violations(edges) == []


def test_no_private_name_crosses_modules(edges):
    assert private_imports(edges) == []


def test_no_import_circle(edges):
    assert cycles(edges) == []


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checks_catch_an_upward_import_a_private_name_and_a_circle(tmp_path):
    root = write(tmp_path, {
        "helpers/__init__.py": "",
        "helpers/core/__init__.py": "",
        "helpers/core/words.py": "def f():\n    from helpers.sections.cnn import g\n",
        "helpers/sections/__init__.py": "",
        "helpers/sections/cnn.py": "from helpers.core.words import f\nfrom helpers.sections.a import _x\n",
        "helpers/sections/a.py": "from helpers.sections import b\n_x = 1\n",
        "helpers/sections/b.py": "import helpers.sections.a\n",
    })
    edges = graph(root)
    assert layer_violations(edges) == [
        "helpers.core.words:2 imports helpers.sections.cnn (core may not import sections)"]
    assert private_imports(edges) == ["helpers.sections.cnn:2 imports _x from helpers.sections.a"]
    assert sorted(map(tuple, cycles(edges))) == [
        ("helpers.core.words", "helpers.sections.cnn"), ("helpers.sections.a", "helpers.sections.b")]
