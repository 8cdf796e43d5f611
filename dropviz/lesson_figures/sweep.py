"""Figures of the sweep page: train and test loss against p, the seed spread, the best p marked."""

from __future__ import annotations

import numpy as np

from ..figures import ENGLISH, MODEL_COLORS, Figure, Text, _positive, figure
from ..lessons.sweep import Summary

TRAIN_COLOR, TEST_COLOR = MODEL_COLORS  # blue: train loss, orange: test loss


def log_axis(values: np.ndarray) -> dict:
    """A log y axis whose labels stay readable: powers of ten over a wide range, 1-2-5 steps over a narrow one."""
    finite = values[np.isfinite(values) & (values > 0)]
    decades = np.log10(finite.max() / finite.min()) if finite.size else 0.0
    if decades > 2.5:
        return dict(type="log", dtick=1, exponentformat="power")
    return dict(type="log", dtick="D2", tickformat=".2g") if decades > 1 else dict(type="log", tickformat=".2g")


def loss_vs_p_figure(s: Summary, t: Text = ENGLISH) -> Figure:
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
        notes.append(dict(x=gone[0], y=0.5, xref="x", yref="paper", yshift=-22, xanchor="left", showarrow=False,
                          text=t("sweep.fig.diverged"), font=dict(size=11, color="#E45756")))
    return figure(traces, t("sweep.fig.title"), height=380, annotations=notes,
                  xaxis=dict(title=dict(text=t("sweep.fig.p_axis")), tickvals=s.ps, range=[-0.05, max(s.ps) + 0.05]),
                  yaxis=dict(title=dict(text=t("sweep.fig.loss_axis")), **log_axis(np.concatenate([s.train.ravel(), s.test.ravel()]))),
                  shapes=[dict(type="line", x0=best, x1=best, y0=0, y1=1, yref="paper",
                               line=dict(color=TEST_COLOR, dash="dot", width=1))])
