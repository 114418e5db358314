"""The package's layering, read from the source (nothing is imported).

Layers, bottom up; a module imports only from its own layer or below:

    1  validation, vjp (the shared VJP plumbing), _cli
    2  reference/, cpu/, gpu/ (three backends that never import each other), structure, exact,
       softmax
    3  registry, testing, bridges/, training
    4  theorems/, exercises/, bench/ (every timing and device tool), figures
    5  ssd_edu (__init__), __main__

Every import counts: relative and absolute, at module level or inside a function;
``from . import name`` is an edge to the submodule ``name`` when one exists, else to the package.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ssd_edu"

#: module-name prefix -> layer ("ssd_edu" itself names the package __init__ only).
LAYER = {
    "ssd_edu.validation": 1, "ssd_edu.vjp": 1, "ssd_edu._cli": 1, "ssd_edu._keyword_only": 1,
    "ssd_edu.reference": 2, "ssd_edu.cpu": 2, "ssd_edu.gpu": 2, "ssd_edu.structure": 2,
    "ssd_edu.exact": 2, "ssd_edu.softmax": 2,
    "ssd_edu.registry": 3, "ssd_edu.testing": 3, "ssd_edu.bridges": 3, "ssd_edu.training": 3,
    "ssd_edu.theorems": 4, "ssd_edu.exercises": 4, "ssd_edu.bench": 4, "ssd_edu.figures": 4,
    "ssd_edu.__main__": 5, "ssd_edu": 5,
}
BACKENDS = ("ssd_edu.reference", "ssd_edu.cpu", "ssd_edu.gpu")
KERNEL_FOLDERS = ("ssd_edu.cpu", "ssd_edu.gpu")
#: module names (less a leading underscore) that are tools, not kernels: they belong in bench/.
TOOL_NAMES = {"timing", "report", "check", "bench", "matmul"}


def module_names(root: Path = PACKAGE) -> dict:
    """dotted module name -> path, for every .py file of the package."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, modules: dict) -> set:
    """The package modules that ``name`` (at ``path``) imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]

    def known(dotted: str) -> str | None:          # the deepest package module named by dotted
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ssd_edu":
                    found.add(known(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "ssd_edu":
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in modules else known(source))
    found.discard(None)
    found.discard(name)
    return found


def import_graph(root: Path = PACKAGE) -> dict:
    """module -> set of package modules it imports."""
    modules = module_names(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(name: str) -> int | None:
    best = None
    for prefix in LAYER:
        if name == prefix or (prefix != "ssd_edu" and name.startswith(prefix + ".")):
            if best is None or len(prefix) > len(best):
                best = prefix
    return None if best is None else LAYER[best]


def group_of(name: str, groups) -> str | None:
    return next((g for g in groups if name == g or name.startswith(g + ".")), None)


def circles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layering_problems(graph: dict) -> list:
    """Every broken rule, one line each (empty when the layering holds)."""
    problems = [f"{m}: in no layer (add its prefix to LAYER)" for m in sorted(graph)
                if layer_of(m) is None]
    for m in sorted(graph):
        for t in sorted(graph[m]):
            lm, lt = layer_of(m), layer_of(t)
            if lm is not None and lt is not None and lt > lm:
                problems.append(f"upward: {m} (layer {lm}) imports {t} (layer {lt})")
            gm, gt = group_of(m, BACKENDS), group_of(t, BACKENDS)
            if gm and gt and gm != gt:
                problems.append(f"sideways: {m} imports {t} (backends never import each other)")
    for component in circles(graph):
        inside = [f"{m} -> {t}" for m in component for t in sorted(graph[m]) if t in component]
        problems.append("circle: " + ", ".join(component) + "; edges: " + "; ".join(inside))
    for m in sorted(graph):
        if group_of(m, KERNEL_FOLDERS) and m.rpartition(".")[2].lstrip("_") in TOOL_NAMES:
            problems.append(f"tool in a kernel folder: {m} (move it to ssd_edu/bench/)")
    return problems


def test_the_package_is_layered():
    problems = layering_problems(import_graph())
    assert not problems, "import layering broken:\n  " + "\n  ".join(problems)


def test_every_layer_prefix_names_a_module():
    modules = module_names()
    stale = [p for p in LAYER if p not in modules and not any(m.startswith(p + ".")
                                                               for m in modules)]
    assert not stale, f"LAYER names no module: {stale}"


def _tree(tmp_path, files: dict) -> Path:
    root = tmp_path / "ssd_edu"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


GOOD = {
    "__init__.py": "from . import registry\nfrom .reference import scan\n",
    "validation.py": "import numpy\n",
    "registry.py": "from .cpu import scan\n",
    "reference/__init__.py": "from .scan import f\n",
    "reference/scan.py": "from ..validation import x\n",
    "cpu/__init__.py": "from .scan import f\n",
    "cpu/scan.py": "from .. import validation\n",
}


@pytest.mark.parametrize("change, expected", [
    ({}, None),
    ({"validation.py": "def f():\n    from .registry import IMPLEMENTATIONS\n"},
     "upward: ssd_edu.validation (layer 1) imports ssd_edu.registry (layer 3)"),
    ({"cpu/scan.py": "import ssd_edu\n"},
     "upward: ssd_edu.cpu.scan (layer 2) imports ssd_edu (layer 5)"),
    ({"cpu/scan.py": "from ..reference.scan import f\n"},
     "sideways: ssd_edu.cpu.scan imports ssd_edu.reference.scan"),
    ({"cpu/scan.py": "from . import f\n"},
     "circle: ssd_edu.cpu, ssd_edu.cpu.scan"),
    ({"reference/scan.py": "from ssd_edu.reference import f\n"},
     "circle: ssd_edu.reference, ssd_edu.reference.scan"),
    ({"cpu/timing.py": "import time\n"},
     "tool in a kernel folder: ssd_edu.cpu.timing"),
    ({"helpers.py": "\n"}, "ssd_edu.helpers: in no layer"),
])
def test_planted_breaks_are_caught(tmp_path, change, expected):
    problems = layering_problems(import_graph(_tree(tmp_path, {**GOOD, **change})))
    if expected is None:
        assert problems == []
    else:
        assert any(p.startswith(expected) for p in problems), problems
