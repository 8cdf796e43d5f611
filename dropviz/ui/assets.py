"""Files the browser needs for the charts, kept in memory and gzipped once: plotly.js, the chart
module, layout templates.

Each asset is named by a hash of its content, so `server.py` can tell browsers to keep it for a
year (a new version is a new name). Gzipping once here, not per request, matters for plotly.js:
Streamlit's middleware would compress its 1.5 MB again for every page that opens.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

ROUTE = "/dropviz/asset"  # + "/<name>"; server.py serves it, with server.baseUrlPath in front

# plotly.js with only the trace types our figures draw (scatter, bar, heatmap): 1.26 MB, where
# the smallest official bundle that holds heatmaps ("cartesian") is 1.5 MB and the full one inside
# the plotly package 4.8 MB. A page parses and runs all of it before its first chart. Built from
# npm by `make vendor-plotly` (tools/plotly-bundle), the same version as the plotly package's own.
PLOTLY_JS = Path(__file__).parent / "live_chart_frontend" / "vendor" / "plotly-dropviz.min.js"

TYPES = {".js": "text/javascript; charset=utf-8", ".json": "application/json"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str


_assets: dict[str, Asset] = {}
_by_path: dict[Path, str] = {}
_lock = threading.Lock()  # sessions run their scripts in parallel threads


def add(body: bytes, suffix: str) -> str:
    """Keep `body` (a ".js" or ".json" file) and return its name: the content's hash + suffix."""
    name = hashlib.sha256(body).hexdigest()[:20] + suffix
    with _lock:
        if name not in _assets:
            _assets[name] = Asset(body, gzip.compress(body, compresslevel=9, mtime=0), TYPES[suffix])
    return name


def add_file(path: Path) -> str:
    """`add` for a file of the package, read once per process."""
    with _lock:
        known = _by_path.get(path)
    if known is None:
        known = add(path.read_bytes(), path.suffix)
        with _lock:
            _by_path[path] = known
    return known


def get(name: str) -> Asset | None:
    return _assets.get(name)


_prefix: str | None = None  # server.baseUrlPath as the routes were made with it; None: not served


def serve_under(prefix: str) -> None:
    """Called by server.routes(): from now on this process serves ROUTE (and the frames route)
    under `prefix`, and the URLs handed to the page start with it too."""
    global _prefix
    _prefix = prefix


def served() -> bool:
    """Whether this process serves the asset route (it does under `streamlit run app.py`; AppTest
    and other scripts, such as tests/browser/live_chart_demo.py, do not): live_chart.py then hands
    out its files through Streamlit's component file serving instead. The lab page does not ask:
    it draws its charts the same way either way."""
    return _prefix is not None


def base() -> str:
    """The routes' path prefix ("" or "/something"): server.baseUrlPath when they were made, or
    where they would be made (a page run without the routes, AppTest's, still names its frames
    URL; nothing fetches it there)."""
    if _prefix is not None:
        return _prefix
    path = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{path}" if path else ""


def url(name: str) -> str:
    return f"{base()}{ROUTE}/{name}"
