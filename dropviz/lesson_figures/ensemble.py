"""Figures of the "Dropout as an ensemble" lesson: sub-network curves, their average, the eval curve."""

from __future__ import annotations

from typing import Callable

import numpy as np
import plotly.graph_objects as go

from ..figures import MODEL_COLORS, POINT_COLOR
from ..i18n import translator
from ..lessons.ensemble import Ensemble

Text = Callable[..., str]
ENGLISH = translator("en")
EVAL_COLOR, AVERAGE_COLOR = MODEL_COLORS
MAX_LINES = 60  # thin lines drawn; the average uses every sub-network


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, xanchor="left"), height=height,
                      margin=dict(l=50, r=10, t=40, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def ensemble_figure(ens: Ensemble, t: Text = ENGLISH, max_lines: int = MAX_LINES) -> go.Figure:
    """Thin lines for the sub-networks, their average, the eval-mode curve and the training points."""
    fig = go.Figure()
    for i, curve in enumerate(ens.subnets[:max_lines]):
        fig.add_scatter(x=ens.x, y=curve, mode="lines", line=dict(color="rgba(120,120,120,0.35)", width=1),
                        name=t("ensemble.fig.subnets", n=len(ens.subnets)), legendgroup="subnets",
                        showlegend=i == 0, hoverinfo="skip")
    fig.add_scatter(x=ens.x, y=ens.average, mode="lines", name=t("ensemble.fig.average", n=len(ens.subnets)),
                    line=dict(color=AVERAGE_COLOR, width=4))
    fig.add_scatter(x=ens.x, y=ens.eval, mode="lines", name=t("ensemble.fig.eval"),
                    line=dict(color=EVAL_COLOR, width=3, dash="dash"))
    fig.add_scatter(x=ens.x_train, y=ens.y_train, mode="markers", name=t("ensemble.fig.points"),
                    marker=dict(color=POINT_COLOR, size=9, line=dict(color="white", width=1)))
    y = np.concatenate([ens.average, ens.eval, ens.y_train])
    pad = max(0.5 * float(y.max() - y.min()), 0.5)
    fig.update_yaxes(title="y", range=[float(y.min()) - pad, float(y.max()) + pad])
    fig.update_xaxes(title="x")
    return _layout(fig, t("ensemble.fig.curves_title"))


def spread_figure(ens: Ensemble, t: Text = ENGLISH) -> go.Figure:
    """Spread of the sub-networks (and the average's gap to the eval curve) against distance from the data."""
    fig = go.Figure()
    fig.add_scatter(x=ens.distance, y=ens.spread, mode="markers", name=t("ensemble.fig.spread"),
                    marker=dict(color=AVERAGE_COLOR, size=6))
    fig.add_scatter(x=ens.distance, y=ens.gap, mode="markers", name=t("ensemble.fig.gap"),
                    marker=dict(color=EVAL_COLOR, size=5, symbol="x"))
    fig.update_xaxes(title=t("ensemble.fig.distance"))
    fig.update_yaxes(title=t("ensemble.fig.spread_axis"), rangemode="tozero")
    return _layout(fig, t("ensemble.fig.spread_title"))
