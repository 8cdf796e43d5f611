"""dropviz's import direction, checked on the source with `ast` (imports inside functions count too).

The layers, lowest first (README.md, "How it works", lists what each module does):

    config → control, history, devices, i18n, data2d → data, dropout → model → fast_step, budget, export, netview
    → train → verdict, lessons, seeds, scheduler → workers → runner → figures → lesson_figures, net_figure, plane_figures
    → bench → cli → __main__ → ui

A module may import only modules of a lower layer (or of its own package). Only `ui` imports
streamlit or starlette; plotly only the figures and `ui`; pandas only `ui`. No import cycles
between dropviz's modules, counting imports inside functions (server.warm_up imports the page).

Every module of the package has a layer: a new module that has none, or a layer whose module is
gone, fails here, so this table is kept true rather than skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dropviz"

# Lower rank = lower layer: the top-level module or package under dropviz/ (its submodules share it).
RANK = {
    "__init__": 0, "config": 0,
    "control": 1, "history": 1, "devices": 1, "i18n": 1, "data2d": 1,  # data2d: numpy only, data.py picks it
    "data": 2, "dropout": 2,
    "model": 3,
    "fast_step": 4, "budget": 4, "export": 4,  # export: data and init written into a plain script
    "netview": 4,  # the network view's numbers, from the model's tensors
    "train": 5,
    "verdict": 6, "lessons": 6, "scheduler": 6,
    "seeds": 7, "workers": 7,
    "runner": 8,
    "figures": 9,
    "lesson_figures": 10, "net_figure": 10, "plane_figures": 10,
    "bench": 11,
    "cli": 12,
    "__main__": 13,
    "ui": 14,
}
# Third-party packages only some layers may import: package → the layers allowed to.
RESTRICTED = {
    "streamlit": {"ui"},
    "starlette": {"ui"},
    "plotly": {"figures", "lesson_figures", "ui"},
    "pandas": {"ui"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute dotted names imported anywhere in `source` (functions included), relative ones
    resolved; `from package import name` gives both `package` and `package.name` (name may be a
    submodule: which it is, `module_graph` decides)."""
    found = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def sources() -> dict[str, set[str]]:
    """Every module of the package → the names it imports."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        out[name] = imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    return out


def layer(name: str) -> str | None:
    """'dropviz.ui.page' → 'ui', 'dropviz' → '__init__'; None for anything outside the package."""
    parts = name.split(".")
    if parts[0] != "dropviz":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def external(name: str) -> str:
    return name.split(".")[0]


ALL = sources()


def module_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    """module → the package's modules it imports (a name that is not a module, such as a function
    imported from one, is left out: its module is in the set already)."""
    return {m: {n for n in names if n in modules and n != m} for m, names in modules.items()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph as [a, b, …, a], or None (depth-first search)."""
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> list[str] | None:
        stack = stack + [node]
        for target in sorted(graph[node]):
            if target in stack:
                return stack[stack.index(target):] + [target]
            if target not in done and (found := visit(target, stack)):
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (found := visit(start, [])):
            return found
    return None


# --- the checker itself -------------------------------------------------------------------------

def test_the_checker_resolves_imports():
    src = "import streamlit as st\nfrom ..train import run\nfrom .. import figures\nfrom . import page\n" \
          "def f():\n    import plotly.express\n"
    found = imports(src, "dropviz.ui.page")
    assert {"streamlit", "dropviz.train", "dropviz.figures", "dropviz.ui.page", "plotly.express"} <= found
    assert imports("from .model import X", "dropviz.train") == {"dropviz.model", "dropviz.model.X"}
    assert imports("from . import config", "dropviz", is_package=True) == {"dropviz", "dropviz.config"}
    assert imports("from ...lessons import scaling", "dropviz.ui.lessons.scaling") \
        == {"dropviz.lessons", "dropviz.lessons.scaling"}


def test_the_checker_finds_cycles_through_functions():
    graph = module_graph({"dropviz.ui.page": {"dropviz.ui.server", "dropviz.ui.server.frames_url"},
                          "dropviz.ui.server": {"dropviz.ui.page"}, "dropviz.ui.app": {"dropviz.ui.page"}})
    assert cycle(graph) == ["dropviz.ui.page", "dropviz.ui.server", "dropviz.ui.page"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    src = "def warm_up():\n    from . import app, page\n"
    assert {"dropviz.ui.app", "dropviz.ui.page"} <= imports(src, "dropviz.ui.server")


# --- the package --------------------------------------------------------------------------------

def test_every_module_has_a_layer_and_every_layer_a_module():
    layers = {layer(m) for m in ALL}
    assert sorted(layers - set(RANK)) == [], "modules without a layer: add them to RANK"
    assert sorted(set(RANK) - layers) == [], "layers whose module is gone: remove them from RANK"


@pytest.mark.parametrize("module", sorted(ALL))
def test_imports_go_down_the_layers(module):
    here = layer(module)
    for name in sorted(ALL[module]):
        target = layer(name)
        if target is None or target == here:
            continue
        assert target in RANK, f"{module} imports {name}, which has no layer"
        assert RANK[target] < RANK[here], f"{module} imports {name}: {here} ({RANK[here]}) is below {target} ({RANK[target]})"


@pytest.mark.parametrize("module", sorted(ALL))
def test_third_party_packages_stay_in_their_layers(module):
    used = {external(n) for n in ALL[module]}
    for package, allowed in RESTRICTED.items():
        assert package not in used or layer(module) in allowed, f"{module} imports {package}"


def test_no_import_cycles():
    assert cycle(module_graph(ALL)) is None
