"""Figures of the sweep page: train and test loss against p, the seed spread, the best p marked."""

from __future__ import annotations

import numpy as np

from ..figures import ENGLISH, POINT_COLOR, TEST_COLOR, Figure, Text, _positive, figure, log_axis
from ..lessons.sweep import Summary

# Train and test losses take the lab's colours of training and test points (green, purple):
# blue and orange mean the p = 0 and the dropout model on every page, and here p is the x axis.
TRAIN_COLOR = POINT_COLOR


def loss_vs_p_figure(s: Summary, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Median over seeds (line), min–max over seeds (error bars) and every seed (dots), log scale."""
    traces = []
    for name, values, med, lo, hi, color, dash in (
            (t("sweep.fig.train"), s.train, s.train_med, s.train_lo, s.train_hi, TRAIN_COLOR, "dash"),
            (t("sweep.fig.test"), s.test, s.test_med, s.test_lo, s.test_hi, TEST_COLOR, "solid")):
        seeds = values.shape[1]
        jitter = (np.arange(seeds) - (seeds - 1) / 2) * 0.01  # seeds side by side, not on top of each other
        traces.append(dict(type="scatter", x=(s.ps[:, None] + jitter).ravel(), y=_positive(values.ravel()), mode="markers",
                           name=t("sweep.fig.seeds", name=name), marker=dict(color=color, size=5, opacity=0.35),
                           hovertemplate="p=%{x}: %{y:.3g}<extra></extra>"))
        traces.append(dict(type="scatter", x=s.ps, y=_positive(med), mode="lines+markers",
                           name=t("sweep.fig.median", name=name), line=dict(color=color, width=3, dash=dash),
                           error_y=dict(type="data", symmetric=False, array=np.nan_to_num(hi - med),
                                        arrayminus=np.nan_to_num(med - lo), thickness=1.5, width=4),
                           hovertemplate="p=%{x}: %{y:.3g}<extra></extra>"))
    best = float(s.ps[s.best])
    traces.append(dict(type="scatter", x=[best], y=_positive(np.array([s.test_med[s.best]])), mode="markers",
                       name=t("sweep.fig.best", p=f"{best:g}"),
                       marker=dict(symbol="star", size=18, color=TEST_COLOR, line=dict(color="black", width=1))))
    gone = [float(p) for p, m in zip(s.ps, s.test_med) if not np.isfinite(m)]  # every seed diverged
    notes = [dict(x=p, y=0.5, xref="x", yref="paper", text="✕", showarrow=False, font=dict(size=18, color="#E45756"),
                  hovertext=t("sweep.fig.diverged")) for p in gone]
    if gone:
        # Its label reads away from the nearer edge: a diverged last p had it cut off at the right.
        side = "right" if gone[0] > max(s.ps) / 2 else "left"
        notes.append(dict(x=gone[0], y=0.5, xref="x", yref="paper", yshift=-22, xanchor=side, showarrow=False,
                          text=t("sweep.fig.diverged"), font=dict(color="#E45756")))
    return figure(traces, t("sweep.fig.title"), height=380, big=big, subtitle=t("sweep.fig.subtitle"), annotations=notes,
                  xaxis=dict(title=dict(text=t("sweep.fig.p_axis")), tickvals=s.ps, range=[-0.05, max(s.ps) + 0.05]),
                  yaxis=dict(title=dict(text=t("sweep.fig.loss_axis")), **log_axis(s.train, s.test)),
                  shapes=[dict(type="line", x0=best, x1=best, y0=0, y1=1, yref="paper",
                               line=dict(color=TEST_COLOR, dash="dot", width=1))])
