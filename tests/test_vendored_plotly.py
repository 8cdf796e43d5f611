"""The vendored plotly.js bundle (dropviz/ui/live_chart_frontend/vendor) can draw every chart we make.

It is a partial bundle built by tools/plotly-bundle with only some trace types: a quarter of the
full one's size. A figure with another type would draw nothing in the browser, so these tests read
which types the bundle registers and which ones our figure code builds.
"""

from __future__ import annotations

import re
from pathlib import Path

import plotly

from dropviz.ui import assets

ROOT = Path(__file__).resolve().parents[1] / "dropviz"
FIGURE_CODE = [ROOT / "figures.py", *sorted((ROOT / "lesson_figures").glob("*.py"))]
NOT_TRACES = {"line", "log", "data", "linear", "category", "date", "rect", "circle", "path"}  # shapes, axes, error bars


def bundle_version(text: str) -> str:
    return re.search(r"plotly\.js(?: \([^)]*\))? v(\d+\.\d+\.\d+)", text[:300])[1]


def test_the_bundle_is_our_build_of_the_plotly_packages_major_version():
    vendored = assets.PLOTLY_JS.read_text()
    full = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()[:300]
    assert "(dropviz: scatter, bar, heatmap - minified)" in vendored[:200]
    assert bundle_version(vendored).split(".")[0] == bundle_version(full).split(".")[0]
    assert (assets.PLOTLY_JS.parent / "LICENSE").read_text().startswith("MIT License")


def test_every_trace_type_our_figures_build_is_in_the_bundle():
    registered = set(re.findall(r'moduleType:"trace",name:"(\w+)"', assets.PLOTLY_JS.read_text()))
    assert {"scatter", "bar", "heatmap"} <= registered
    used = set()
    for path in FIGURE_CODE:
        code = path.read_text()
        used |= set(re.findall(r'\btype="(\w+)"', code)) - NOT_TRACES  # dict(type="scatter", ...)
        used |= {name.lower() for name in re.findall(r"\bgo\.(?!Figure\b|Layout\b)([A-Z]\w+)\(", code)}  # go.Scatter(
        used |= set(re.findall(r"\.add_(\w+)\(", code)) - {"trace", "shape", "annotation", "vline", "hline",
                                                             "vrect", "hrect", "layout_image"}  # fig.add_bar(
    assert used, "found no traces: the patterns above no longer match the figure code"
    assert used <= registered, f"not in the vendored plotly.js bundle: {sorted(used - registered)}"
