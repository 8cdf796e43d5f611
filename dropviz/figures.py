"""Plotly figures from snapshots: pure functions, data in, figure out, no state and no training.

A figure here is Plotly's own JSON form, a dict {"data": [trace, …], "layout": {…}}, with numpy
arrays inside. Building go.Figure objects validates every property and took 10–80 ms per chart,
several times a second per viewer; a dict takes microseconds and Plotly draws it the same.
Every function takes `t`, a translator (dropviz.i18n.translator), for the text on the chart.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .i18n import translator
from .train import Snapshot

Figure = dict[str, Any]
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


def figure(data: list[dict], title: str, height: int = 340, **layout: Any) -> Figure:
    """A figure dict with the layout every chart shares."""
    base = dict(title=dict(text=title, x=0, xanchor="left"), height=height,
                margin=dict(l=50, r=10, t=40, b=40), legend=dict(orientation="h", y=-0.25))
    return {"data": data, "layout": {**base, **layout}}


def columns(n: int, titles: list[str], gap: float = 0.04) -> dict[str, Any]:
    """Layout for n side-by-side panels: axes x, x2, … with their titles as annotations."""
    width = (1 - gap * (n - 1)) / n
    layout: dict[str, Any] = {"annotations": []}
    for i in range(n):
        lo = i * (width + gap)
        suffix = "" if i == 0 else str(i + 1)
        layout[f"xaxis{suffix}"] = dict(domain=[lo, lo + width], anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = dict(anchor=f"x{suffix}")
        layout["annotations"].append(dict(text=titles[i], x=lo + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=12)))
    return layout


def _axis(i: int) -> dict[str, str]:
    """Which panel a trace belongs to, for `columns` layouts."""
    return {} if i == 0 else {"xaxis": f"x{i + 1}", "yaxis": f"y{i + 1}"}


def fit_figure(snap: Snapshot, t: Text = ENGLISH) -> Figure:
    """Training and test points, each model's eval-mode curve and, if sampled, the MC-dropout band."""
    data = snap.data
    traces = [
        dict(type="scatter", x=data.x_grid[:, 0], y=data.y_grid[:, 0], mode="lines",
             name=t("figures.true_function"), line=dict(color="gray", dash="dot", width=1)),
        dict(type="scatter", x=data.x_test[:, 0], y=data.y_test[:, 0], mode="markers",
             name=t("figures.test_points"), marker=dict(color=TEST_COLOR, size=5, opacity=0.6)),
        dict(type="scatter", x=data.x_train[:, 0], y=data.y_train[:, 0], mode="markers",
             name=t("figures.training_points"), marker=dict(color=POINT_COLOR, size=9, line=dict(color="white", width=1))),
    ]
    for m, p in enumerate(snap.ps):
        if snap.mc_mean is not None and p > 0:
            lo, hi = snap.mc_mean[m] - 2 * snap.mc_std[m], snap.mc_mean[m] + 2 * snap.mc_std[m]
            traces.append(dict(type="scatter", x=np.concatenate([snap.mc_x, snap.mc_x[::-1]]),
                               y=np.concatenate([hi, lo[::-1]]), fill="toself", mode="none",
                               fillcolor="rgba(245,133,24,0.18)", name=t("figures.mc_band", p=f"{p:g}"),
                               hoverinfo="skip"))
        traces.append(dict(type="scatter", x=snap.x_grid, y=snap.pred[m], mode="lines", name=model_name(p, t),
                           line=dict(color=MODEL_COLORS[min(m, 1)], width=3)))
    y_all = np.concatenate([data.y_train[:, 0], data.y_test[:, 0]])
    pad = 0.3 * float(y_all.max() - y_all.min() + 1e-6)
    return figure(traces, t("figures.fit_title"), xaxis=dict(title=dict(text="x")),
                  yaxis=dict(title=dict(text="y"), range=[float(y_all.min()) - pad, float(y_all.max()) + pad]))


def loss_figure(snap: Snapshot, t: Text = ENGLISH) -> Figure:
    """Train (dashed) and test (solid) MSE of each model against iteration, log scale."""
    h = snap.history
    traces = []
    for m, p in enumerate(snap.ps):
        color = MODEL_COLORS[min(m, 1)]
        traces.append(dict(type="scatter", x=h["iteration"], y=_positive(h["train"][:, m]), mode="lines",
                           name=t("figures.train_of", name=model_name(p, t)), line=dict(color=color, dash="dash", width=2)))
        traces.append(dict(type="scatter", x=h["iteration"], y=_positive(h["test"][:, m]), mode="lines",
                           name=t("figures.test_of", name=model_name(p, t)), line=dict(color=color, width=3)))
    return figure(traces, t("figures.loss_title"),
                  xaxis=dict(title=dict(text=t("figures.iteration")), range=[0, snap.total]),
                  yaxis=dict(type="log", title=dict(text=t("figures.mse_axis")), tickvals=log_ticks(h["train"], h["test"])))


def log_ticks(*arrays: np.ndarray) -> list[float]:
    """Powers of ten across the data, with 2× and 5× added when it spans less than two decades."""
    values = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return []
    lo, hi = int(np.floor(np.log10(values.min()))), int(np.ceil(np.log10(values.max())))
    steps = (1,) if hi - lo >= 2 else (1, 2, 5)
    return [float(s * 10.0 ** e) for e in range(lo, hi + 1) for s in steps]


def _positive(values: np.ndarray) -> np.ndarray:
    """Log axes cannot show 0, NaN or inf: those become gaps."""
    out = values.astype(float).copy()
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def masks_figure(snap: Snapshot, model: int = -1, t: Text = ENGLISH) -> Figure:
    """The Bernoulli keep masks of the last training step, one heatmap per hidden layer (units × samples)."""
    masks = snap.masks[model]  # (depth, N, H)
    p = f"{float(snap.ps[model]):g}"
    depth = masks.shape[0]
    if depth == 0:  # before the first training step
        return figure([], t("figures.masks_title", p=p, note=""),
                      annotations=[dict(text=t("figures.masks_empty"), showarrow=False, xref="paper", yref="paper",
                                        x=0.5, y=0.5)], xaxis=dict(visible=False), yaxis=dict(visible=False))
    rates = snap.drop_rate[model]
    layout = columns(depth, [t("figures.layer_dropped", layer=l + 1, rate=f"{rates[l]:.1%}") for l in range(depth)])
    traces = []
    for l in range(depth):
        z = masks[l][:MAX_MASK_SAMPLES, :MAX_MASK_UNITS].T  # rows: units, columns: training samples
        traces.append(dict(type="heatmap", z=z, zmin=0, zmax=1, showscale=False, xgap=1,
                           colorscale=[[0, "#1f1f1f"], [1, MODEL_COLORS[1]]],
                           hovertemplate="%{y}, %{x}: %{z}<extra>" + t("figures.mask_hover") + "</extra>", **_axis(l)))
        layout["xaxis" + ("" if l == 0 else str(l + 1))]["title"] = dict(text=t("figures.sample"))
        if l:  # unit numbers once, on the left: inner labels would overlap the next panel
            layout[f"yaxis{l + 1}"]["showticklabels"] = False
    layout["yaxis"]["title"] = dict(text=t("figures.unit"))
    shown = min(masks.shape[2], MAX_MASK_UNITS)
    note = t("figures.masks_note", shown=shown, total=masks.shape[2]) if masks.shape[2] > shown else ""
    return figure(traces, t("figures.masks_title", p=p, note=note), margin=dict(l=50, r=10, t=70, b=40), **layout)


def weight_norm_figure(snap: Snapshot, t: Text = ENGLISH) -> Figure:
    """Each layer's weight norm over time relative to its start, both models: dropout keeps weights
    smaller, like L2. Relative, because layers start at very different norms."""
    h = snap.history
    norms = h["weight_norm"]  # (K, layers, M)
    if len(norms):
        norms = norms / np.where(norms[:1] > 0, norms[:1], 1.0)
    traces = []
    for m, p in enumerate(snap.ps):
        for l in range(norms.shape[1] if norms.ndim == 3 else 0):
            traces.append(dict(type="scatter", x=h["iteration"], y=norms[:, l, m], mode="lines",
                               name=model_name(p, t), legendgroup=str(m), showlegend=l == 0,
                               hovertext=t("figures.layer", layer=l + 1),
                               line=dict(color=MODEL_COLORS[min(m, 1)], width=1 + l % 3,
                                         dash=("solid", "dot", "dash", "dashdot")[l % 4])))
    return figure(traces, t("figures.norm_title"), yaxis=dict(title=dict(text=t("figures.norm_axis"))),
                  xaxis=dict(title=dict(text=t("figures.iteration")), range=[0, snap.total]))


def weight_hist_figure(snap: Snapshot, grads: bool = False, t: Text = ENGLISH) -> Figure:
    """Histograms of each layer's weights (or gradients) for both models, on shared bins."""
    hists = snap.grad_hist if grads else snap.weight_hist
    title = t("figures.grad_hist_title" if grads else "figures.hist_title")
    if not hists:
        return figure([], title)
    layout = columns(len(hists), [t("figures.layer", layer=l + 1) for l in range(len(hists))], gap=0.03)
    traces = []
    for l, (counts, edges) in enumerate(hists):
        centers = (edges[:-1] + edges[1:]) / 2
        for m, p in enumerate(snap.ps):
            traces.append(dict(type="bar", x=centers, y=counts[m], name=model_name(p, t), legendgroup=str(m),
                               showlegend=l == 0, marker=dict(color=MODEL_COLORS[min(m, 1)]), opacity=0.6, **_axis(l)))
        layout["yaxis" + ("" if l == 0 else str(l + 1))]["showticklabels"] = False
    return figure(traces, title, barmode="overlay", bargap=0, margin=dict(l=50, r=10, t=70, b=40), **layout)
