"""Demo page for live_chart: one fragment pushes growing data into 4 charts.

Run by hand: streamlit run tests/browser/live_chart_demo.py
"""

import sys
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

# `streamlit run` puts only this file's folder on sys.path; make dropviz importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from dropviz.ui.live_chart import live_chart  # noqa: E402

st.set_page_config(page_title="live_chart demo", layout="wide")
st.title("live_chart demo")
st.session_state.setdefault("steps", 20)


def line_fig(title: str, x: np.ndarray, **series: np.ndarray) -> go.Figure:
    fig = go.Figure([go.Scatter(x=x, y=y, name=name, mode="lines") for name, y in series.items()])
    fig.update_layout(title=title, margin=dict(l=40, r=10, t=40, b=30), xaxis_title="step")
    return fig


@st.fragment(run_every=0.25)
def live() -> None:
    st.session_state.steps += 5  # "training" progresses between frames
    n = st.session_state.steps
    x = np.arange(n)
    # One fixed seed per series, so old points stay put as the data grows.
    noise = [np.random.default_rng(i).normal(0, 0.03, n) for i in range(3)]
    train = np.exp(-x / 60) + 0.1 + noise[0]
    val = np.exp(-x / 80) + 0.15 + noise[1]
    st.caption(f"step {n}")
    live_chart(line_fig("loss", x, train=train, val=val), key="loss")
    cols = st.columns(3)
    with cols[0]:
        acc = 1 - 0.9 * np.exp(-x / 70) + noise[2]
        live_chart(line_fig("accuracy", x, val=acc), key="accuracy", height=280)
    with cols[1]:
        lr = 1e-3 * np.minimum(1, (x + 1) / 50) * 0.5 ** (x // 100)  # warmup, then steps
        live_chart(line_fig("learning rate", x, lr=lr), key="lr", height=280)
    with cols[2]:
        gn = np.abs(np.sin(x / 9)) + 0.2
        live_chart(line_fig("grad norm", x, grad=gn), key="grad_norm", height=280)


live()
