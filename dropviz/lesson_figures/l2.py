"""Figures of the dropout-vs-L2 page: test loss, weight norms over time, final weight histograms."""

from __future__ import annotations

from ..figures import ENGLISH, Figure, Text, _positive, columns, figure
from ..lessons.l2 import MODELS, L2Snapshot
from .sweep import log_axis

COLORS = {"neither": "#4C78A8", "dropout": "#F58518", "l2": "#54A24B", "both": "#B279A2"}
DASH = {"neither": "solid", "dropout": "solid", "l2": "dash", "both": "dash"}


def model_label(m: int, snap: L2Snapshot, t: Text = ENGLISH) -> str:
    """'dropout (p = 0.5)', 'L2 (λ = 0.01)', …: each model named by what regularises it."""
    return t(f"l2.models.{MODELS[m]}", p=f"{snap.ps[m]:g}", decay=f"{snap.decays[m]:g}")


def _style(m: int, snap: L2Snapshot, t: Text, show: bool = True) -> dict:
    name = MODELS[m]
    return dict(name=model_label(m, snap, t), legendgroup=name, showlegend=show,
                line=dict(color=COLORS[name], dash=DASH[name], width=2.5))


def loss_figure(snap: L2Snapshot, t: Text = ENGLISH) -> Figure:
    """Test MSE of the four models against iteration, log scale."""
    h = snap.history
    traces = [dict(type="scatter", x=h["iteration"], y=_positive(h["test"][:, m]), mode="lines", **_style(m, snap, t))
              for m in range(len(MODELS))]
    return figure(traces, t("l2.fig.test_title"),
                  xaxis=dict(title=dict(text=t("l2.fig.iteration")), range=[0, snap.total]),
                  yaxis=dict(title=dict(text=t("l2.fig.mse")), **log_axis(h["test"].ravel())))


def norm_figure(snap: L2Snapshot, t: Text = ENGLISH) -> Figure:
    """Each layer's weight norm over time, one panel per layer, the four models in each."""
    h = snap.history
    layers = h["weight_norm"].shape[1] if h["weight_norm"].ndim == 3 else 0
    layout = columns(max(layers, 1), [t("l2.fig.layer", layer=l + 1) for l in range(layers)] or [""])
    traces = []
    for l in range(layers):
        axis = {} if l == 0 else {"xaxis": f"x{l + 1}", "yaxis": f"y{l + 1}"}
        for m in range(len(MODELS)):
            traces.append(dict(type="scatter", x=h["iteration"], y=h["weight_norm"][:, l, m], mode="lines",
                               **_style(m, snap, t, show=l == 0), **axis))
        layout[f"xaxis{'' if l == 0 else l + 1}"].update(range=[0, snap.total], tickvals=[0, snap.total // 2])
    layout["yaxis"]["title"] = dict(text=t("l2.fig.norm"))
    return figure(traces, t("l2.fig.norm_title"), margin=dict(l=50, r=10, t=60, b=40), **layout)


def hist_figure(snap: L2Snapshot, t: Text = ENGLISH) -> Figure:
    """Final weight distribution of each layer (density), the four models overlaid."""
    hists = snap.weight_hist
    layout = columns(max(len(hists), 1), [t("l2.fig.layer", layer=l + 1) for l in range(len(hists))] or [""])
    traces = []
    for l, (density, centers) in enumerate(hists):
        axis = {} if l == 0 else {"xaxis": f"x{l + 1}", "yaxis": f"y{l + 1}"}
        for m in range(len(MODELS)):
            traces.append(dict(type="scatter", x=centers[m], y=density[m], mode="lines", line_shape="hvh",
                               **_style(m, snap, t, show=l == 0), **axis))
        layout[f"xaxis{'' if l == 0 else l + 1}"]["nticks"] = 4
    layout["yaxis"]["title"] = dict(text=t("l2.fig.density"))
    return figure(traces, t("l2.fig.hist_title"), height=300, margin=dict(l=50, r=10, t=60, b=30), **layout)
