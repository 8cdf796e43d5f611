"""Figures of the costs page: train loss against iteration with the target, and BN variance against p."""

from __future__ import annotations

import numpy as np

from ..figures import (ENGLISH, MODEL_COLORS, OTHER_COLORS, Figure, Text, panel_axes, _positive, figure, log_axis,
                       p_colors, panels)
from ..lessons.costs import BNStats

# BatchNorm chart: dropout on (train mode) orange, dropout off (eval mode) blue, as the two models
# on every page; BN's running variance red, the formula grey. What is measured is the panel.
BN_LINES = (  # field, legend key, colour, dash, panel (0: BN's input, 1: BN's output)
    ("train_in", "train_mode", MODEL_COLORS[1], "solid", 0), ("eval_in", "eval_mode", MODEL_COLORS[0], "solid", 0),
    ("running", "running", OTHER_COLORS[0], "dot", 0), ("predicted", "predicted", "gray", "dash", 0),
    ("train_out", "train_mode", MODEL_COLORS[1], "solid", 1), ("eval_out", "eval_mode", MODEL_COLORS[0], "solid", 1),
)


def convergence_figure(history: dict[str, np.ndarray], ps: np.ndarray, target: float, reached: list[int | None],
                       total: int, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Eval-mode train loss of each p against iteration (log), the target line, and where each p crosses it.
    p = 0 is blue, the dropout ps shades of orange (darker: larger p)."""
    traces = []
    for m, (p, color) in enumerate(zip(ps, p_colors(ps))):
        traces.append(dict(type="scatter", x=history["iteration"], y=_positive(history["train"][:, m]), mode="lines",
                           name=t("costs.fig.p", p=f"{p:g}"), legendgroup=str(m), line=dict(color=color, width=2.5)))
        if reached[m] is not None:
            traces.append(dict(type="scatter", x=[reached[m]], y=[target], mode="markers", legendgroup=str(m),
                               showlegend=False, marker=dict(color=color, size=12, symbol="circle-open", line=dict(width=3)),
                               hovertemplate=t("costs.fig.reached_hover", p=f"{p:g}") + " %{x}<extra></extra>"))
    shapes = [dict(type="line", x0=0, x1=1, xref="paper", y0=target, y1=target, line=dict(color="gray", dash="dash"))]
    return figure(traces, t("costs.fig.conv_title", target=f"{target:g}"), big=big, shapes=shapes,
                  xaxis=dict(title=dict(text=t("costs.fig.iteration")), range=[0, total]),
                  yaxis=dict(title=dict(text=t("costs.fig.train_mse")), **log_axis(history["train"], [target])))


def bn_figure(stats: list[BNStats], chosen: float, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Left: BN's input variance, right: its output variance, against p; train mode (dropout on) vs
    eval mode (off), and on the left BN's running variance and the formula for the train-mode one."""
    ps = [s.p for s in stats]
    layout = panels(2, [t("costs.fig.bn_in"), t("costs.fig.bn_out")], gap=0.14)
    traces = []
    for field, key, color, dash, panel in BN_LINES:
        traces.append(dict(type="scatter", x=ps, y=[getattr(s, field) for s in stats], mode="lines+markers",
                           name=t(f"costs.fig.{key}"), legendgroup=key, showlegend=panel == 0,
                           line=dict(color=color, dash=dash, width=2), marker=dict(size=5), **panel_axes(panel)))
    for suffix in ("", "2"):
        layout[f"xaxis{suffix}"]["title"] = dict(text=t("costs.fig.p_axis"))
    layout["yaxis"].update(title=dict(text=t("costs.fig.variance")),
                           **log_axis(np.array([v for s in stats for v in (s.train_in, s.eval_in, s.running)])))
    layout["yaxis2"].update(title=dict(text=t("costs.fig.variance")), rangemode="tozero")
    shapes = [dict(type="line", x0=chosen, x1=chosen, y0=0, y1=1, xref=x, yref="paper",
                   line=dict(color="gray", dash="dot", width=1)) for x in ("x", "x2")]
    return figure(traces, t("costs.fig.bn_title", p=f"{chosen:g}"), height=360, big=big, shapes=shapes,
                  panel_title_lines=1, **layout)
