"""Figures of the "Dropout vs DropPath" lesson: the two kinds of masks and their drop rates."""

from __future__ import annotations

from typing import Callable

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..figures import FONT_PX, MODEL_COLORS, OTHER_COLORS, figure
from ..i18n import translator
from ..lessons.droppath import BlockResult

Text = Callable[..., str]
ENGLISH = translator("en")
DROPOUT_COLOR, DROPPATH_COLOR = MODEL_COLORS[1], OTHER_COLORS[1]  # orange: dropout, as on every page; teal


def _layout(fig: go.Figure, title: str, height: int = 360, *, big: bool = False, subtitle: str = "",
            panel_title_lines: int = 0) -> go.Figure:
    """The layout every chart shares (figures.figure): title below the toolbar, text size, margins."""
    fig.update_layout(**figure([], title, height, big=big, subtitle=subtitle, panel_title_lines=panel_title_lines)["layout"])
    fig.update_xaxes(automargin=True)
    return fig.update_yaxes(automargin=True)


def masks_figure(r: BlockResult, t: Text = ENGLISH, big: bool = False) -> go.Figure:
    """Both keep masks of one batch as heatmaps, samples as rows: scattered zeros vs whole zeroed rows."""
    titles = [t("droppath.fig.dropout_mask", rate=f"{r.dropout_rate:.1%}"),
              t("droppath.fig.droppath_mask", rate=f"{r.droppath_rate:.1%}")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    hover = "%{y}, %{x}: %{z}<extra>" + t("droppath.fig.hover") + "</extra>"
    for col, (mask, color) in enumerate(((r.dropout_keep, DROPOUT_COLOR), (r.droppath_keep, DROPPATH_COLOR)), 1):
        fig.add_heatmap(z=mask, zmin=0, zmax=1, showscale=False, colorscale=[[0, "#1f1f1f"], [1, color]],
                        xgap=1, ygap=1, hovertemplate=hover, row=1, col=col)
        fig.update_xaxes(title=t("droppath.fig.feature"), row=1, col=col)
    fig.update_yaxes(autorange="reversed")
    fig.update_yaxes(title=t("droppath.fig.sample"), row=1, col=1)  # once: the right one would sit on the left heatmap
    fig.update_annotations(font_size=FONT_PX[big])  # make_subplots' 16 px titles would not fit a phone
    return _layout(fig, t("droppath.fig.masks_title", p=f"{r.p:g}"), big=big, subtitle=t("droppath.fig.masks_key"),
                   panel_title_lines=2)


def rates_figure(r: BlockResult, t: Text = ENGLISH, big: bool = False) -> go.Figure:
    """Histograms of the per-batch drop rate of both methods over many batches, with p marked."""
    fig = go.Figure()
    step = 1 / r.droppath_keep.shape[0]  # DropPath's rate moves in steps of one sample: one bin each
    edges = np.arange(-step / 2, 1 + step, step)
    for rates, name, color in ((r.dropout_rates, t("droppath.fig.dropout"), DROPOUT_COLOR),
                               (r.droppath_rates, t("droppath.fig.droppath"), DROPPATH_COLOR)):
        counts, _ = np.histogram(rates, bins=edges)
        fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=step, name=name, marker_color=color, opacity=0.7)
    top = max(1, max(trace.y.max() for trace in fig.data)) * 1.08
    fig.add_scatter(x=[r.p, r.p], y=[0, top], mode="lines", name=t("droppath.fig.p_line", p=f"{r.p:g}"),
                    line=dict(color="black", dash="dot", width=2))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title=t("droppath.fig.rate_axis"), range=[max(0, r.p - 0.4), min(1, r.p + 0.4)], tickformat=".0%")
    fig.update_yaxes(title=t("droppath.fig.batches", n=len(r.dropout_rates)))
    return _layout(fig, t("droppath.fig.rates_title", n=len(r.dropout_rates)), big=big)
