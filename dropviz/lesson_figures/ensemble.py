"""Figures of the "Dropout as an ensemble" lesson: sub-network curves, their average, the eval curve."""

from __future__ import annotations

from typing import Callable

import numpy as np
import plotly.graph_objects as go

from ..figures import MODEL_COLORS, OTHER_COLORS, POINT_COLOR, figure
from ..i18n import translator
from ..lessons.ensemble import Ensemble

Text = Callable[..., str]
ENGLISH = translator("en")
# The eval-mode curve is the dropout model's prediction, orange as in the lab's fit; the average of
# the grey sub-networks is dark grey (dashed); the gap between them red.
EVAL_COLOR, AVERAGE_COLOR, GAP_COLOR = MODEL_COLORS[1], OTHER_COLORS[3], OTHER_COLORS[0]
MAX_LINES = 60  # thin lines drawn; the average uses every sub-network


def _layout(fig: go.Figure, title: str, height: int = 360, *, big: bool = False, subtitle: str = "",
            panel_title_lines: int = 0) -> go.Figure:
    """The layout every chart shares (figures.figure): title below the toolbar, text size, margins."""
    fig.update_layout(**figure([], title, height, big=big, subtitle=subtitle, panel_title_lines=panel_title_lines)["layout"])
    fig.update_xaxes(automargin=True)
    return fig.update_yaxes(automargin=True)


def ensemble_figure(ens: Ensemble, t: Text = ENGLISH, max_lines: int = MAX_LINES, big: bool = False) -> go.Figure:
    """Thin lines for the sub-networks, their average, the eval-mode curve and the training points."""
    fig = go.Figure()
    for i, curve in enumerate(ens.subnets[:max_lines]):
        fig.add_scatter(x=ens.x, y=curve, mode="lines", line=dict(color="rgba(120,120,120,0.35)", width=1),
                        name=t("ensemble.fig.subnets", n=len(ens.subnets)), legendgroup="subnets",
                        showlegend=i == 0, hoverinfo="skip")
    fig.add_scatter(x=ens.x, y=ens.average, mode="lines", name=t("ensemble.fig.average", n=len(ens.subnets)),
                    line=dict(color=AVERAGE_COLOR, width=3.5, dash="dash"))
    fig.add_scatter(x=ens.x, y=ens.eval, mode="lines", name=t("ensemble.fig.eval"), line=dict(color=EVAL_COLOR, width=3))
    fig.add_scatter(x=ens.x_train, y=ens.y_train, mode="markers", name=t("ensemble.fig.points"),
                    marker=dict(color=POINT_COLOR, size=9, line=dict(color="white", width=1)))
    y = np.concatenate([ens.average, ens.eval, ens.y_train])
    pad = max(0.5 * float(y.max() - y.min()), 0.5)
    fig.update_yaxes(title="y", range=[float(y.min()) - pad, float(y.max()) + pad])
    fig.update_xaxes(title="x")
    return _layout(fig, t("ensemble.fig.curves_title"), big=big)


def spread_figure(ens: Ensemble, t: Text = ENGLISH, big: bool = False) -> go.Figure:
    """Spread of the sub-networks (and the average's gap to the eval curve) against distance from the data."""
    fig = go.Figure()
    fig.add_scatter(x=ens.distance, y=ens.spread, mode="markers", name=t("ensemble.fig.spread"),
                    marker=dict(color=AVERAGE_COLOR, size=6))
    fig.add_scatter(x=ens.distance, y=ens.gap, mode="markers", name=t("ensemble.fig.gap"),
                    marker=dict(color=GAP_COLOR, size=5, symbol="x"))
    fig.update_xaxes(title=t("ensemble.fig.distance"))
    fig.update_yaxes(title=t("ensemble.fig.spread_axis"), rangemode="tozero")
    return _layout(fig, t("ensemble.fig.spread_title"), big=big)
