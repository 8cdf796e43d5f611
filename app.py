"""dropviz: `streamlit run app.py` serves the lab. Everything it shows lives in dropviz/ui/.

This file has two roles. `streamlit run` finds `app = st.App(...)` below and imports this file
once as the web server: Streamlit plus dropviz's own routes (dropviz/ui/server.py: chart assets,
and live chart frames without a script rerun each). Then, for every browser session, Streamlit
runs this file as the page script, with __name__ == "__main__".
"""

import streamlit as st

if __name__ == "__main__":  # a session's script run: the page
    st.set_page_config(page_title="dropviz: dropout lab", page_icon="🎲", layout="wide")

    from dropviz.ui.app import run  # set_page_config must come first

    run()
else:  # imported by `streamlit run` as the server
    from dropviz.ui import server

    server.warm_up()
    app = st.App(__file__, routes=server.routes(), middleware=server.middleware())
