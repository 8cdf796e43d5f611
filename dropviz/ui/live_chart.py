"""Live-updating Plotly chart for Streamlit that keeps zoom and never remounts.

Why not ``st.plotly_chart``: in Streamlit 1.67 its element id is a hash of the
whole figure, so every new frame of data mounts a fresh chart (new DOM node)
and the user's zoom / pan / legend toggles are lost, even with ``key=``.

Here a components-v2 element keyed only by ``key`` receives the figure as data
each rerun; its JS calls ``Plotly.react`` on one div that lives as long as the
element, with ``layout.uirevision`` set so Plotly keeps user UI state.

Assets: plotly.js (a 1.26 MB bundle of the traces we draw, see assets.py), the chart module
and layout templates (Streamlit's default one is ~4 kB) are files the JS fetches
once per page, never data riding along with every frame. Under `streamlit run
app.py` server.py serves them from memory, gzipped once and cached by the
browser. A script run without dropviz's routes (tests/browser/live_chart_demo.py,
AppTest) gets them by registering their directories as v1 component paths, at
``/component/<name>/...``: only these URLs differ, never what the page draws.

Streaming: `stream()` tells the page's chart module where to fetch newer frames
of every chart (server.py's frames route); each frame then redraws the charts by
key without a Streamlit rerun. Payloads carry a version, so a script run's
inline frame never replaces a newer streamed one.
"""

from __future__ import annotations

import atexit
import base64
import functools
import hashlib
import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit.components.v1 import declare_component

from . import assets

_FRONTEND = Path(__file__).parent / "live_chart_frontend"
log = logging.getLogger("dropviz")

# Runs in the main page (no iframe). Module state is shared by every chart on
# the page because Streamlit turns identical inline JS into one cached blob URL.
_JS = r"""
// Stub: the real code is a file served once per page (live_chart_frontend/live_chart.js), so the
// few kB of it do not travel with every chart update. Payloads come as UTF-8 JSON bytes.
// This stub runs from a blob: URL, so the module's path is made absolute against the page.
const load = (url) => (window.__dropvizChartModule ??= import(new URL(url, window.location.href).href));
export default function (args) {
  const raw = args.data;
  const data = raw instanceof Uint8Array || raw instanceof ArrayBuffer
    ? JSON.parse(new TextDecoder().decode(raw)) : raw;
  let cleanup = null, gone = false;
  load(data.module).then((m) => { if (!gone) cleanup = m.default({ ...args, data }); })
    .catch((e) => console.error("dropviz live_chart:", e));
  return () => { gone = true; if (cleanup) cleanup(); };
}
"""

# isolate_styles=False: plotly.js injects its CSS into document.head, which a
# shadow root would not see (broken modebar/hover layout).
_component = st.components.v2.component(
    "dropviz.live_chart", js=_JS, isolate_styles=False
)


@functools.lru_cache(maxsize=None)
def _serve_dir(name: str, path: Path) -> str:
    """Register ``path`` as a v1 component dir and return its URL.

    declare_component makes the running server serve the directory at
    /component/<module>.<name>/ (live_chart always runs inside a script run,
    which declare_component needs); re-declaring the same path is a no-op.
    """
    # Once per process (cached): declaring on every chart of every rerun cost hundreds of
    # registrations a second under a class's load.
    comp = declare_component(name, path=str(path))
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return (f"/{base}" if base else "") + f"/component/{comp.name}"


_template_dir: Path | None = None
_template_lock = threading.Lock()  # sessions run scripts in parallel threads


# (id(template), served by server.py?) → (template, url): the same object again is free
_template_urls: dict[tuple[int, bool], tuple[dict, str]] = {}


def _template_url(template: dict) -> str:
    """Store a layout template once, named by its hash, and return its URL."""
    key = (id(template), assets.served())
    known = _template_urls.get(key)
    if known is not None and known[0] is template:
        return known[1]
    if assets.served():
        url = assets.url(assets.add(json.dumps(template, sort_keys=True, separators=(",", ":")).encode(), ".json"))
    else:
        url = _write_template(template)
    if len(_template_urls) > 16:  # go.Figure templates are new objects each time: stay bounded
        _template_urls.clear()
    _template_urls[key] = (template, url)
    return url


def _write_template(template: dict) -> str:
    global _template_dir
    with _template_lock:
        if _template_dir is None:
            _template_dir = Path(tempfile.mkdtemp(prefix="dropviz-templates-"))
            atexit.register(shutil.rmtree, _template_dir, True)
    text = json.dumps(template, sort_keys=True, separators=(",", ":"))
    name = hashlib.sha1(text.encode()).hexdigest()[:16] + ".json"
    path = _template_dir / name
    if not path.exists():  # write-then-rename, so no reader sees half a file
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return _serve_dir("templates", _template_dir) + "/" + name


def _pack_numeric_lists(obj: Any) -> Any:
    """Turn long plain-number lists inside traces into plotly typed arrays.

    ``fig.to_json`` already does this for numpy arrays; training loops tend to
    append Python floats to lists, which would otherwise travel as decimal text.
    """
    if isinstance(obj, dict):
        return {k: _pack_numeric_lists(v) for k, v in obj.items()}
    if isinstance(obj, list) and len(obj) >= 16:
        if all(type(v) in (int, float) for v in obj):
            arr = np.asarray(obj)
            if arr.dtype.kind == "f":
                code = "f8"
            elif arr.dtype.kind == "i" and np.abs(arr).max() < 2**31:
                code = "i4"  # JS has no int64 typed array
            else:
                return obj
            data = base64.b64encode(arr.astype("<" + code).tobytes()).decode()
            return {"dtype": code, "bdata": data}
    return obj


_TYPED = {"f": "f4", "b": "u1", "u": "u1", "i": "i4"}  # numpy kind → plotly typed-array dtype


def _encode(obj: Any) -> Any:
    """Numpy arrays → plotly typed arrays (base64, float32): a quarter of the JSON text, no parsing."""
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    if isinstance(obj, np.ndarray):
        code = _TYPED.get(obj.dtype.kind)
        if code is None or obj.ndim > 2 or (code == "u1" and obj.dtype.kind == "u" and obj.max(initial=0) > 255):
            return obj.tolist()
        out = {"dtype": code, "bdata": base64.b64encode(np.ascontiguousarray(obj, "<" + code).tobytes()).decode()}
        if obj.ndim == 2:
            out["shape"] = f"{obj.shape[0]}, {obj.shape[1]}"
        return out
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN; plotly reads null as a gap
    return obj


_default_template: dict | None = None


def _template_of_the_theme() -> dict | None:
    """Plotly's default template (Streamlit registers its own on import), for dict figures."""
    global _default_template
    if _default_template is None:
        import plotly.io as pio
        name = pio.templates.default
        _default_template = pio.templates[name].to_plotly_json() if name else {}
    return _default_template or None


def theme_template_url() -> str:
    """Where the layout template of dict figures (dropviz.figures, every lab chart) is served."""
    return _template_url(_template_of_the_theme() or {})


def compact_figure(figure: go.Figure | dict) -> tuple[dict, dict | None]:
    """JSON-ready figure dict with typed arrays, and its template split off.

    A plain dict (dropviz.figures) is encoded directly; a go.Figure goes through plotly's JSON.
    """
    if isinstance(figure, dict) and "layout" in figure and "template" not in figure["layout"]:
        d = {"data": _encode(figure.get("data", [])), "layout": _encode(figure["layout"])}
        return d, _template_of_the_theme()
    fig = figure if isinstance(figure, go.Figure) else go.Figure(figure)
    d = json.loads(fig.to_json())  # numpy arrays -> {"dtype", "bdata"}
    d["data"] = [_pack_numeric_lists(t) for t in d.get("data", [])]
    template = d.setdefault("layout", {}).pop("template", None)
    return d, template


def preload_plotly(css: str = "") -> None:
    """Start loading plotly.js as the page opens, not when the first chart's data arrives; and put
    the page's `css` (common.page_css: ours, never from a URL) into the document's head, where no
    rerun removes it (an element of the script's output is gone for a moment while a rerun redraws)."""
    _component(key="dropviz-plotly-preload", height=0,
               data={"preload": True, "plotly_js": _plotly_url(), "module": module_url(), "css": css})


def stream(url: str, after: int, final: bool, keys: list[str], language: str, big: bool = False,
           on_ended=None) -> None:
    """Let the page's charts named `keys` fetch their newer frames from `url` (server.py's frames
    route; the projector's charts when `big`), starting after version `after`; nothing to fetch once
    `final`. `on_ended`: called in the rerun that the chart module asks for when the stream brings
    the run's last frame."""
    _component(key="dropviz-live-stream", height=0,
               data={"stream": url, "after": after, "final": final, "charts": ",".join(keys), "lang": language,
                     "big": bool(big), "module": module_url()},
               on_lost_change=_redraw_lost, on_ended_change=on_ended or _nothing)


def status(texts: dict) -> None:
    """The status line (page.status_texts), drawn by the chart module and moved on by every streamed
    frame (its iteration, total and pace), so it needs no rerun of its own. Plain text: the module
    sets textContent, never markup."""
    _component(key="dropviz-live-status", data={"status": texts, "module": module_url()})


def _nothing() -> None:
    pass


def _redraw_lost() -> None:
    """The page lost some charts (see rescueLostCharts in live_chart.js): the rerun that this
    callback belongs to draws them again; log it, so it shows how often that happens."""
    log.warning("charts lost from a page by a Streamlit rerun race; redrawn")


def module_url() -> str:
    """Where the chart module (live_chart.js) is served; server.py preloads it in the page's head."""
    if assets.served():
        return assets.url(assets.add_file(_FRONTEND / "live_chart.js"))
    return _serve_dir("frontend", _FRONTEND) + "/live_chart.js"


def _plotly_url() -> str:
    if assets.served():
        return assets.url(assets.add_file(assets.PLOTLY_JS))
    return _serve_dir("plotlyjs", assets.PLOTLY_JS.parent) + "/" + assets.PLOTLY_JS.name


class Encoded(bytes):
    """A chart's whole payload, JSON as UTF-8: made once, sent to every viewer as it is."""


def encode(figure: go.Figure | dict, *, key: str, height: int = 360, version: int | None = None) -> Encoded:
    """The payload of `live_chart(…, key=key, height=height)` for this figure.

    Streamlit passes bytes through untouched, where a dict would be serialised twice (once to
    send, once to hash) on every rerun of every viewer. `version` (runner.Frame's) lets the
    chart ignore a payload older than one it has drawn.
    """
    if isinstance(figure, dict) and "layout" in figure and "template" not in figure["layout"]:
        # dropviz.figures' dicts: one pass of json's C encoder, which hands only the numpy arrays
        # and scalars to _typed (a third of the time of walking the figure in Python first). A
        # NaN outside an array (JSON has none) raises, and the walk below turns it into null.
        try:
            return Encoded(json.dumps(_payload({"data": figure.get("data", []), "layout": figure["layout"]},
                                               _template_of_the_theme(), key, height, version),
                                      separators=(",", ":"), default=_typed, allow_nan=False).encode())
        except ValueError:
            pass
    fig, template = compact_figure(figure)
    return Encoded(json.dumps(_payload(fig, template, key, height, version), separators=(",", ":")).encode())


def _payload(fig: dict, template: dict | None, key: str, height: int, version: int | None) -> dict:
    return {"figure": fig, "template": _template_url(template) if template else None, "plotly_js": _plotly_url(),
            "module": module_url(), "key": key, "height": height, "version": version}


def _typed(obj: Any) -> Any:
    """json.dumps' fallback for what it cannot write: numpy arrays and scalars, as _encode writes them."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return _encode(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def placeholder(*, key: str, height: int = 360) -> Encoded:
    """A chart's payload before its first figure: an empty frame of the right size, that a
    streamed frame (`stream`) can fill."""
    return Encoded(json.dumps({"key": key, "height": height, "module": module_url(), "plotly_js": _plotly_url(),
                               "version": None}).encode())


def live_chart(figure: go.Figure | dict | Encoded, *, key: str, height: int = 360) -> None:
    """Show ``figure`` and update it in place on later reruns with the same key.

    ``figure`` may be what ``encode`` made, so a figure seen by many viewers is encoded once.
    User zoom/pan/legend state survives updates unless the figure sets a new
    ``layout.uirevision`` (e.g. the run id) to force a reset.
    """
    payload = figure if isinstance(figure, Encoded) else encode(figure, key=key, height=height)
    # The v2 widget id embeds the key and must not contain "__"; escaping "_"
    # keeps the mapping injective. The prefix keeps it apart from user keys.
    safe = re.sub(r"[%_]", lambda m: "%25" if m[0] == "%" else "%5F", key)
    _component(key=f"dropviz-live-chart-{safe}", data=payload, height=height)
