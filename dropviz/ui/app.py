"""The app shell: language, projector styling, and the navigation between pages."""

from __future__ import annotations

import importlib

import streamlit as st

from . import urlstate
from .common import language_picker, page_css, projector_css, shielded, t
from .live_chart import preload_plotly

# url path → module with render(); the lab first. Each page's title is its "<name>.nav" text.
PAGES = {
    "lab": "dropviz.ui.page",
    "scaling": "dropviz.ui.lessons.scaling",
    "ensemble": "dropviz.ui.lessons.ensemble",
    "sweep": "dropviz.ui.lessons.sweep",
    "droppath": "dropviz.ui.lessons.droppath",
    "l2": "dropviz.ui.lessons.l2",
    "costs": "dropviz.ui.lessons.costs",
}
NAV_KEY = {"lab": "lab.nav"}


def run() -> None:
    projector_css()  # first, on every run: the page is never drawn without its layout
    urlstate.keep_all()  # settings survive a visit to another page
    language_picker()
    # The lab is the default page, served at "/" (a default page has no path of its own).
    pages = [st.Page(_guarded(name, module), title=t(NAV_KEY.get(name, f"{name}.nav")),
                     **({"default": True} if name == "lab" else {"url_path": name})) for name, module in PAGES.items()]
    with st.sidebar:  # invisible: plotly.js starts loading while the first run starts
        preload_plotly(page_css())
    st.navigation(pages).run()


def _guarded(name: str, module: str):
    """The page's render(), imported when first shown; a failure is a message on that page alone
    (common.shielded)."""
    def page() -> None:
        importlib.import_module(module).render()
    page.__name__ = f"page_{name}"  # Streamlit tells pages apart by their function's name
    return shielded(page, f"the page {name}")
