"""The 2-D classification charts: decision boundaries over the plane, and accuracy beside the loss.

The snapshot of a 2-D run (train.py, task "classification") carries each model's probability of
class 1 on a 50 × 50 grid (`prob`, `grid_axis`), its accuracy, and the points (data2d.Dataset2D).
The two models' boundaries stand side by side, as the lab's two curves share the fit chart.
"""

from __future__ import annotations

import numpy as np

from . import figures
from .figures import ENGLISH, Figure, Text, columns, figure, model_color, model_name
from .train import Snapshot

# The two classes: pink and green (ColorBrewer's PiYG, colour-blind safe), never the models' blue and
# orange. The heatmap runs from a light pink (probability 0 of class 1) through white (0.5, the
# boundary) to a light green (1); the points are the strong ones on top.
CLASS_COLORS = ("#C51B7D", "#4D9221")
PROB_SCALE = [[0, "#E9A3C9"], [0.5, "#F7F7F7"], [1, "#A1D76A"]]


def boundary_figure(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Each charted model's probability of class 1 over the plane (eval mode), with the training
    points (filled) and the test points (rings) coloured by their label: one square panel each."""
    n = len(snap.ps)
    layout = columns(n, [model_name(float(p), t) for p in snap.ps], gap=0.08)
    traces = []
    for m in range(n):
        axis = figures.panel_axes(m)
        traces.append(dict(type="heatmap", x=snap.grid_axis, y=snap.grid_axis, z=snap.prob[m], zmin=0, zmax=1,
                           colorscale=PROB_SCALE, showscale=False, name=model_name(float(snap.ps[m]), t),
                           hovertemplate=t("figures.prob_hover") + "<extra>%{fullData.name}</extra>", **axis))
        traces += _points(snap, m, t, axis)
        suffix = "" if m == 0 else str(m + 1)
        span = [float(snap.grid_axis[0]), float(snap.grid_axis[-1])]
        ticks = dict(tickvals=[-1, 0, 1], tickangle=0)  # three flat labels fit a phone's and a projector's panel
        layout[f"xaxis{suffix}"].update(range=span, title=dict(text="x₁"), constrain="domain", **ticks)
        layout[f"yaxis{suffix}"].update(range=span, scaleanchor=f"x{suffix}", constrain="domain", **ticks,
                                        title=dict(text="x₂" if m == 0 else ""), showticklabels=m == 0)
    # The key in two short lines instead of a legend: a legend's four rows would shrink the squares.
    return figure(traces, t("figures.boundary_title"), big=big, showlegend=False, panel_title_lines=2,
                  subtitle=t("figures.boundary_classes") + "<br>" + t("figures.boundary_points"), **layout)


def _points(snap: Snapshot, m: int, t: Text, axis: dict) -> list[dict]:
    """The training points as filled dots and the test points as rings, in their class's colour."""
    data, traces = snap.data, []
    for kind, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        labels = y[:, 0] > 0.5
        for cls in (0, 1):
            chosen = labels == bool(cls)
            marker = dict(color=CLASS_COLORS[cls], size=7 if kind == "train" else 6,
                          symbol="circle" if kind == "train" else "circle-open",
                          line=dict(color="white" if kind == "train" else CLASS_COLORS[cls], width=1 if kind == "train" else 1.5))
            traces.append(dict(type="scatter", x=x[chosen, 0], y=x[chosen, 1], mode="markers", marker=marker,
                               name=t(f"figures.{kind}_class", cls=cls), hoverinfo="skip", **axis))
    return traces


def loss_accuracy_figure(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """The lab's loss chart (cross-entropy) and, beside it, each model's accuracy on the training
    (dashed) and the test points (solid) over iterations."""
    fig = figures.loss_figure(snap, t, big)
    layout, h = fig["layout"], snap.history
    layout["xaxis"]["domain"], layout["yaxis"]["title"] = [0, 0.44], dict(text=t("figures.bce_axis"))
    layout["xaxis2"] = dict(domain=[0.56, 1], anchor="y2", range=[0, snap.total], automargin=True,
                            title=dict(text=t("figures.iteration")))
    layout["yaxis2"] = dict(anchor="x2", range=[0, 1.02], tickformat=".0%", automargin=True,
                            title=dict(text=t("figures.accuracy_axis")))
    for m, p in enumerate(snap.ps):
        name = model_name(float(p), t)
        for kind, dash, width in (("train", "dash", 2), ("test", "solid", 3)):
            fig["data"].append(dict(type="scatter", x=h["iteration"], y=h[f"{kind}_acc"][:, m], mode="lines",
                                    name=name, legendgroup=f"{float(p):g}", showlegend=False, xaxis="x2", yaxis="y2",
                                    hovertemplate=f"%{{x}}: %{{y:.1%}}<extra>{t(f'figures.{kind}_of', name=name)}</extra>",
                                    line=dict(color=model_color(float(p)), dash=dash, width=width)))
    layout["title"]["text"] = t("figures.loss_accuracy_title")
    return fig


def by_task(regression, classification):
    """A chart that draws a 1-D run with `regression` and a 2-D one with `classification`."""
    def make(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
        return (classification if snap.classification else regression)(snap, t=t, big=big)
    return make
