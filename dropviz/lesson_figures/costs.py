"""Figures of the costs page: train loss against iteration with the target, and BN variance against p."""

from __future__ import annotations

import numpy as np

from ..figures import ENGLISH, Figure, Text, _positive, columns, figure
from ..lessons.costs import BNStats
from .sweep import log_axis

P_COLORS = ("#4C78A8", "#F58518", "#E45756", "#72B7B2")


def convergence_figure(history: dict[str, np.ndarray], ps: np.ndarray, target: float, reached: list[int | None],
                       total: int, t: Text = ENGLISH) -> Figure:
    """Eval-mode train loss of each p against iteration (log), the target line, and where each p crosses it."""
    traces = []
    for m, p in enumerate(ps):
        color = P_COLORS[m % len(P_COLORS)]
        traces.append(dict(type="scatter", x=history["iteration"], y=_positive(history["train"][:, m]), mode="lines",
                           name=t("costs.fig.p", p=f"{p:g}"), legendgroup=str(m), line=dict(color=color, width=2.5)))
        if reached[m] is not None:
            traces.append(dict(type="scatter", x=[reached[m]], y=[target], mode="markers", legendgroup=str(m),
                               showlegend=False, marker=dict(color=color, size=12, symbol="circle-open", line=dict(width=3)),
                               hovertemplate=t("costs.fig.reached_hover", p=f"{p:g}") + " %{x}<extra></extra>"))
    shapes = [dict(type="line", x0=0, x1=1, xref="paper", y0=target, y1=target, line=dict(color="gray", dash="dash"))]
    return figure(traces, t("costs.fig.conv_title", target=f"{target:g}"), shapes=shapes,
                  xaxis=dict(title=dict(text=t("costs.fig.iteration")), range=[0, total]),
                  yaxis=dict(title=dict(text=t("costs.fig.train_mse")), **log_axis(history["train"].ravel())))


def bn_figure(stats: list[BNStats], chosen: float, t: Text = ENGLISH) -> Figure:
    """Left: BN input variance in train mode, eval mode, and BN's running variance. Right: BN output variance."""
    ps = [s.p for s in stats]
    layout = columns(2, [t("costs.fig.bn_in"), t("costs.fig.bn_out")], gap=0.1)
    lines = [("train_in", "#F58518", "solid", 0), ("running", "#E45756", "dot", 0), ("predicted", "gray", "dash", 0),
             ("eval_in", "#4C78A8", "solid", 0), ("train_out", "#F58518", "solid", 1), ("eval_out", "#4C78A8", "solid", 1)]
    traces = []
    for field, color, dash, panel in lines:
        axis = {} if panel == 0 else {"xaxis": "x2", "yaxis": "y2"}
        traces.append(dict(type="scatter", x=ps, y=[getattr(s, field) for s in stats], mode="lines+markers",
                           name=t(f"costs.fig.{field}"), line=dict(color=color, dash=dash, width=2),
                           marker=dict(size=5), **axis))
    for suffix in ("", "2"):
        layout[f"xaxis{suffix}"]["title"] = dict(text=t("costs.fig.p_axis"))
    layout["yaxis"].update(title=dict(text=t("costs.fig.variance")),
                           **log_axis(np.array([v for s in stats for v in (s.train_in, s.eval_in)])))
    layout["yaxis2"].update(rangemode="tozero")
    shapes = [dict(type="line", x0=chosen, x1=chosen, y0=0, y1=1, xref=x, yref="paper",
                   line=dict(color="gray", dash="dot", width=1)) for x in ("x", "x2")]
    return figure(traces, t("costs.fig.bn_title", p=f"{chosen:g}"), height=360, shapes=shapes,
                  margin=dict(l=50, r=10, t=60, b=40), **layout)
