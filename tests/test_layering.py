"""The import direction of DESIGN.md, checked on the source with `ast`:
config → data, dropout → model → train → runner; nothing below ui imports streamlit;
the math never imports plotly or pandas."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dropviz"

# Lower rank = lower layer. A ranked module may import only dropviz modules of lower rank.
RANK = {"config": 0, "control": 0.5, "history": 0.5, "devices": 0.5,
        "data": 1, "dropout": 1, "model": 2, "budget": 2, "train": 3, "scheduler": 3.5, "workers": 3.7, "runner": 4}
TOP = {"ui", "figures", "cli", "__main__", "app"}  # what no ranked module may import
MATH = ["train", "model", "dropout", "config", "data", "control", "history", "devices"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Absolute dotted names imported anywhere in `source` (functions included), relative ones resolved."""
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
            if node.module:
                found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names if not node.module)
    return found


def sources() -> dict[str, set[str]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        out[name] = imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    return out


def internal(name: str) -> str | None:
    """'dropviz.model' → 'model'; None for anything outside the package."""
    parts = name.split(".")
    return parts[1] if parts[0] == "dropviz" and len(parts) > 1 else None


def external(name: str) -> str:
    return name.split(".")[0]


ALL = sources()


def test_the_checker_resolves_imports():
    src = "import streamlit as st\nfrom ..train import run\nfrom .. import figures\nfrom . import page\n" \
          "def f():\n    import plotly.express\n"
    found = imports(src, "dropviz.ui.page")
    assert {"streamlit", "dropviz.train", "dropviz.figures", "dropviz.ui.page", "plotly.express"} <= found
    assert imports("from .model import X", "dropviz.train") == {"dropviz.model"}
    assert imports("from . import config", "dropviz", is_package=True) == {"dropviz.config"}
    assert {"config", "train", "model", "dropout", "data"} <= {internal(m) for m in ALL}


def test_only_the_ui_imports_streamlit():
    offenders = [m for m, names in ALL.items()
                 if not (internal(m) or "").startswith("ui") and "streamlit" in {external(n) for n in names}]
    assert offenders == []


@pytest.mark.parametrize("layer", MATH)
def test_math_never_imports_plotly_or_pandas(layer):
    modules = {m: names for m, names in ALL.items() if internal(m) == layer}
    if not modules:
        pytest.skip(f"dropviz/{layer} does not exist yet")
    for module, names in modules.items():
        assert not {"plotly", "pandas", "streamlit"} & {external(n) for n in names}, module


@pytest.mark.parametrize("layer", sorted(RANK))
def test_lower_layers_never_import_higher_ones(layer):
    modules = {m: names for m, names in ALL.items() if internal(m) == layer}
    if not modules:
        pytest.skip(f"dropviz/{layer} does not exist yet")
    for module, names in modules.items():
        for name in names:
            target = internal(name)
            if target is None or target == layer:
                continue
            assert target not in TOP and not target.startswith("ui"), f"{module} imports {name}"
            if target in RANK:
                assert RANK[target] < RANK[layer], f"{module} imports {name}: against config → … → runner"
