"""dropviz: `streamlit run app.py` serves the lab. The page itself lives in dropviz/ui/."""

import streamlit as st

st.set_page_config(page_title="dropviz: dropout lab", page_icon="🎲", layout="wide")

from dropviz.ui.page import main  # noqa: E402  (set_page_config must come first)

main()
