"""Figures of the dropout-vs-L2 page: test loss, weight norms over time, final weight histograms."""

from __future__ import annotations

from ..figures import (ENGLISH, MODEL_COLORS, OTHER_COLORS, Figure, Text, panel_axes, _positive, figure, log_axis, panels,
                       symmetric_ticks)
from ..lessons.l2 import MODELS, L2Snapshot

# Neither and dropout in the lab's colours of p = 0 and dropout; L2 and both in two others.
COLORS = {"neither": MODEL_COLORS[0], "dropout": MODEL_COLORS[1], "l2": OTHER_COLORS[1], "both": OTHER_COLORS[0]}
DASH = {"neither": "solid", "dropout": "solid", "l2": "dash", "both": "dash"}


def model_label(m: int, snap: L2Snapshot, t: Text = ENGLISH) -> str:
    """'dropout (p = 0.5)', 'L2 (λ = 0.01)', …: each model named by what regularises it."""
    return t(f"l2.models.{MODELS[m]}", p=f"{snap.ps[m]:g}", decay=f"{snap.decays[m]:g}")


def _style(m: int, snap: L2Snapshot, t: Text, show: bool = True) -> dict:
    name = MODELS[m]
    return dict(name=model_label(m, snap, t), legendgroup=name, showlegend=show,
                line=dict(color=COLORS[name], dash=DASH[name], width=2.5))


def loss_figure(snap: L2Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Test MSE of the four models against iteration, log scale."""
    h = snap.history
    traces = [dict(type="scatter", x=h["iteration"], y=_positive(h["test"][:, m]), mode="lines", **_style(m, snap, t))
              for m in range(len(MODELS))]
    return figure(traces, t("l2.fig.test_title"), big=big,
                  xaxis=dict(title=dict(text=t("l2.fig.iteration")), range=[0, snap.total]),
                  yaxis=dict(title=dict(text=t("l2.fig.mse")), **log_axis(h["test"])))


def norm_figure(snap: L2Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Each layer's weight norm over time, one panel per layer (two columns), the four models in each."""
    h = snap.history
    layers = h["weight_norm"].shape[1] if h["weight_norm"].ndim == 3 else 0
    layout = panels(max(layers, 1), [t("l2.fig.layer", layer=l + 1) for l in range(layers)] or [""], cols=2,
                    gap=0.12, vgap=0.14)
    traces = []
    for l in range(layers):
        for m in range(len(MODELS)):
            traces.append(dict(type="scatter", x=h["iteration"], y=h["weight_norm"][:, l, m], mode="lines",
                               **_style(m, snap, t, show=l == 0), **panel_axes(l)))
        suffix = "" if l == 0 else str(l + 1)
        layout[f"xaxis{suffix}"].update(range=[0, snap.total], tickvals=[0, snap.total // 2, snap.total])
        layout[f"yaxis{suffix}"]["nticks"] = 4
        if l % 2 == 0:
            layout[f"yaxis{suffix}"]["title"] = dict(text=t("l2.fig.norm"))
        if l >= layers - 2:  # the bottom row of each column: iterations once, not under every panel
            layout[f"xaxis{suffix}"]["title"] = dict(text=t("l2.fig.iteration"))
        else:
            layout[f"xaxis{suffix}"]["showticklabels"] = False
    return figure(traces, t("l2.fig.norm_title"), big=big, panel_title_lines=1, **layout)


def hist_figure(snap: L2Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Final weight distribution of each layer (density), the four models overlaid."""
    hists = snap.weight_hist
    layout = panels(max(len(hists), 1), [t("l2.fig.layer", layer=l + 1) for l in range(len(hists))] or [""], gap=0.04)
    traces = []
    for l, (density, centers) in enumerate(hists):
        for m in range(len(MODELS)):
            traces.append(dict(type="scatter", x=centers[m], y=density[m], mode="lines", line_shape="hvh",
                               **_style(m, snap, t, show=l == 0), **panel_axes(l)))
        layout[f"xaxis{'' if l == 0 else l + 1}"].update(tickvals=symmetric_ticks(centers), title=dict(text=t("l2.fig.weight")))
    layout["yaxis"]["title"] = dict(text=t("l2.fig.density"))
    return figure(traces, t("l2.fig.hist_title"), height=300, big=big, panel_title_lines=1, **layout)
