"""The app shell: language, projector styling, and the navigation between pages."""

from __future__ import annotations

import streamlit as st

from . import page
from .common import language_picker, projector_css, t


def run() -> None:
    language_picker()
    projector_css()
    pages = [st.Page(page.render, title=t("lab.nav"), url_path="lab", default=True)]
    st.navigation(pages).run()
