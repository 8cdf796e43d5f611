"""Plotly figures from snapshots: pure functions, data in, figure out, no state and no training.

Every function takes `t`, a translator (dropviz.i18n.translator), for the text on the chart.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .i18n import translator
from .train import Snapshot

Text = Callable[..., str]
ENGLISH = translator("en")

# The baseline and the dropout model keep their colours on every chart (colour-blind safe pair).
MODEL_COLORS = ("#4C78A8", "#F58518")
POINT_COLOR = "#54A24B"
TEST_COLOR = "#B279A2"
MAX_MASK_UNITS = 128  # rows of a mask heatmap; wider layers show their first units
MAX_MASK_SAMPLES = 64


def model_name(p: float, t: Text = ENGLISH) -> str:
    """How a model is called on every chart: by its drop probability."""
    return t("figures.baseline") if p == 0 else t("figures.dropout", p=f"{p:g}")


def _base_layout(fig: go.Figure, title: str, height: int = 340) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=height,
                      margin=dict(l=50, r=10, t=40, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def fit_figure(snap: Snapshot, t: Text = ENGLISH) -> go.Figure:
    """Training and test points, each model's eval-mode curve and, if sampled, the MC-dropout band."""
    data = snap.data
    fig = go.Figure()
    fig.add_scatter(x=data.x_grid[:, 0], y=data.y_grid[:, 0], mode="lines", name=t("figures.true_function"),
                    line=dict(color="gray", dash="dot", width=1))
    fig.add_scatter(x=data.x_test[:, 0], y=data.y_test[:, 0], mode="markers", name=t("figures.test_points"),
                    marker=dict(color=TEST_COLOR, size=5, opacity=0.6))
    fig.add_scatter(x=data.x_train[:, 0], y=data.y_train[:, 0], mode="markers", name=t("figures.training_points"),
                    marker=dict(color=POINT_COLOR, size=9, line=dict(color="white", width=1)))
    for m, p in enumerate(snap.ps):
        color = MODEL_COLORS[min(m, 1)]
        if snap.mc_mean is not None and p > 0:
            lo, hi = snap.mc_mean[m] - 2 * snap.mc_std[m], snap.mc_mean[m] + 2 * snap.mc_std[m]
            fig.add_scatter(x=np.concatenate([snap.mc_x, snap.mc_x[::-1]]), y=np.concatenate([hi, lo[::-1]]),
                            fill="toself", mode="none", fillcolor="rgba(245,133,24,0.18)",
                            name=t("figures.mc_band", p=f"{p:g}"), hoverinfo="skip")
        fig.add_scatter(x=snap.x_grid, y=snap.pred[m], mode="lines", name=model_name(p, t),
                        line=dict(color=color, width=3))
    y_all = np.concatenate([data.y_train[:, 0], data.y_test[:, 0]])
    pad = 0.3 * (y_all.max() - y_all.min() + 1e-6)
    fig.update_yaxes(range=[y_all.min() - pad, y_all.max() + pad], title="y")
    fig.update_xaxes(title="x")
    return _base_layout(fig, t("figures.fit_title"))


def loss_figure(snap: Snapshot, t: Text = ENGLISH) -> go.Figure:
    """Train (dashed) and test (solid) MSE of each model against iteration, log scale."""
    h = snap.history
    fig = go.Figure()
    for m, p in enumerate(snap.ps):
        color = MODEL_COLORS[min(m, 1)]
        fig.add_scatter(x=h["iteration"], y=_positive(h["train"][:, m]), mode="lines",
                        name=t("figures.train_of", name=model_name(p, t)), line=dict(color=color, dash="dash", width=2))
        fig.add_scatter(x=h["iteration"], y=_positive(h["test"][:, m]), mode="lines",
                        name=t("figures.test_of", name=model_name(p, t)), line=dict(color=color, width=3))
    fig.update_yaxes(type="log", title=t("figures.mse_axis"), dtick=1, exponentformat="power")
    fig.update_xaxes(title=t("figures.iteration"), range=[0, snap.total])
    return _base_layout(fig, t("figures.loss_title"))


def _positive(values: np.ndarray) -> np.ndarray:
    """Log axes cannot show 0, NaN or inf: those become gaps."""
    out = values.astype(float).copy()
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def masks_figure(snap: Snapshot, model: int = -1, t: Text = ENGLISH) -> go.Figure:
    """The Bernoulli keep masks of the last training step, one heatmap per hidden layer (units × samples)."""
    masks = snap.masks[model]  # (depth, N, H)
    p = float(snap.ps[model])
    depth = masks.shape[0]
    if depth == 0:  # before the first training step
        fig = go.Figure()
        fig.add_annotation(text=t("figures.masks_empty"), showarrow=False)
        return _base_layout(fig, t("figures.masks_title", p=f"{p:g}", note=""))
    rates = snap.drop_rate[model]
    titles = [t("figures.layer_dropped", layer=l + 1, rate=f"{rates[l]:.1%}") for l in range(depth)]
    fig = make_subplots(rows=1, cols=depth, subplot_titles=titles, horizontal_spacing=0.04)
    fig.update_annotations(font_size=12)
    for l in range(depth):
        z = masks[l][:MAX_MASK_SAMPLES, :MAX_MASK_UNITS].T  # rows: units, columns: training samples
        fig.add_heatmap(z=z, row=1, col=l + 1, zmin=0, zmax=1, showscale=False,
                        colorscale=[[0, "#1f1f1f"], [1, MODEL_COLORS[1]]], xgap=1,
                        hovertemplate="%{y}, %{x}: %{z}<extra>" + t("figures.mask_hover") + "</extra>")
        fig.update_xaxes(title=t("figures.sample"), row=1, col=l + 1)
    fig.update_yaxes(title=t("figures.unit"), row=1, col=1)
    shown = min(masks.shape[2], MAX_MASK_UNITS)
    note = t("figures.masks_note", shown=shown, total=masks.shape[2]) if masks.shape[2] > shown else ""
    fig = _base_layout(fig, t("figures.masks_title", p=f"{p:g}", note=note))
    fig.update_layout(margin=dict(t=70))
    return fig


def weight_norm_figure(snap: Snapshot, t: Text = ENGLISH) -> go.Figure:
    """Each layer's weight norm over time, both models: dropout keeps weights smaller, like L2."""
    h = snap.history
    norms = h["weight_norm"]  # (K, layers, M)
    fig = go.Figure()
    for m, p in enumerate(snap.ps):
        for l in range(norms.shape[1] if norms.ndim == 3 else 0):
            fig.add_scatter(x=h["iteration"], y=norms[:, l, m], mode="lines", name=model_name(p, t),
                            legendgroup=str(m), showlegend=l == 0, hovertext=t("figures.layer", layer=l + 1),
                            line=dict(color=MODEL_COLORS[min(m, 1)], width=1 + l % 3,
                                      dash=("solid", "dot", "dash", "dashdot")[l % 4]))
    fig.update_yaxes(title=t("figures.norm_axis"))
    fig.update_xaxes(title=t("figures.iteration"), range=[0, snap.total])
    return _base_layout(fig, t("figures.norm_title"))


def weight_hist_figure(snap: Snapshot, grads: bool = False, t: Text = ENGLISH) -> go.Figure:
    """Histograms of each layer's weights (or gradients) for both models, on shared bins."""
    hists = snap.grad_hist if grads else snap.weight_hist
    title = t("figures.grad_hist_title" if grads else "figures.hist_title")
    if not hists:
        return _base_layout(go.Figure(), title)
    fig = make_subplots(rows=1, cols=len(hists), subplot_titles=[t("figures.layer", layer=l + 1) for l in range(len(hists))],
                        horizontal_spacing=0.03)
    for l, (counts, edges) in enumerate(hists):
        centers = (edges[:-1] + edges[1:]) / 2
        for m, p in enumerate(snap.ps):
            fig.add_bar(x=centers, y=counts[m], name=model_name(p, t), legendgroup=str(m), showlegend=l == 0,
                        marker_color=MODEL_COLORS[min(m, 1)], opacity=0.6, row=1, col=l + 1)
    fig.update_layout(barmode="overlay", bargap=0, margin=dict(t=70))
    fig.update_annotations(font_size=12)
    fig.update_yaxes(showticklabels=False)
    return _base_layout(fig, title)
