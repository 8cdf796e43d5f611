"""dropviz: `streamlit run app.py` serves the lab. Everything it shows lives in dropviz/ui/."""

import streamlit as st

st.set_page_config(page_title="dropviz: dropout lab", page_icon="🎲", layout="wide")

from dropviz.ui.app import run  # noqa: E402  (set_page_config must come first)

run()
