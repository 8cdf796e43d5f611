"""Figures of the "Why 1/(1−p)?" lesson: train-mode outputs against the one eval-mode output."""

from __future__ import annotations

from typing import Callable

import numpy as np
import plotly.graph_objects as go

from ..figures import MODEL_COLORS, OTHER_COLORS, figure
from ..i18n import translator
from ..lessons.scaling import ScalingResult, zoom

Text = Callable[..., str]
ENGLISH = translator("en")
TRAIN_COLOR = MODEL_COLORS[1]  # dropout on: orange, as the dropout model on every page
EVAL_COLOR = OTHER_COLORS[0]  # the one eval-mode output: red (blue is the p = 0 model's)
BINS = 40


def _layout(fig: go.Figure, title: str, height: int = 360, *, big: bool = False, subtitle: str = "",
            panel_title_lines: int = 0) -> go.Figure:
    """The layout every chart shares (figures.figure): title below the toolbar, text size, margins."""
    fig.update_layout(**figure([], title, height, big=big, subtitle=subtitle, panel_title_lines=panel_title_lines)["layout"])
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig.update_layout(bargap=0.05)


def _vline(fig: go.Figure, x: float, top: float, name: str, color: str, dash: str, width: int) -> None:
    """A vertical line as a trace (not a shape), so it has a legend entry and shows in fig.data."""
    fig.add_scatter(x=[x, x], y=[0, top], mode="lines", name=name, line=dict(color=color, width=width, dash=dash),
                    hovertemplate=f"{name}: {x:,.2f}<extra></extra>")


def histogram_figure(r: ScalingResult, t: Text = ENGLISH, big: bool = False) -> go.Figure:
    """Histogram of the train-mode outputs, the eval-mode output and the theoretical mean as lines."""
    lo, hi = float(r.train.min()), float(r.train.max())
    lo, hi = min(lo, r.eval, r.theory_mean) - 1, max(hi, r.eval, r.theory_mean) + 1
    counts, edges = np.histogram(r.train, bins=BINS, range=(lo, hi))
    fig = go.Figure()
    fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges), name=t("scaling.fig.train", n=r.train.size),
                marker_color=TRAIN_COLOR, opacity=0.75)
    top = max(int(counts.max()), 1) * 1.08
    _vline(fig, r.eval, top, t("scaling.fig.eval"), EVAL_COLOR, "solid", 4)
    _vline(fig, r.theory_mean, top, t("scaling.fig.theory_mean"), "black", "dot", 2)  # on top: often the same x
    fig.update_xaxes(title=t("scaling.fig.output"), tickformat=",")
    fig.update_yaxes(title=t("scaling.fig.count"))
    return _layout(fig, t("scaling.fig.hist_title"), big=big, subtitle=t("scaling.fig.hist_subtitle", p=f"{r.p:g}"))


def zoom_figure(r: ScalingResult, t: Text = ENGLISH, half_width: int = 20, big: bool = False) -> go.Figure:
    """Unit-wide bins around the expected output: at p = 0.5 (inverted) only even numbers occur."""
    left, counts = zoom(r.train, r.theory_mean, half_width)
    fig = go.Figure()
    fig.add_bar(x=left, y=counts, width=0.8, name=t("scaling.fig.train", n=r.train.size), marker_color=TRAIN_COLOR)
    fig.update_xaxes(title=t("scaling.fig.output"), tickformat=",", dtick=10, tickangle=0)
    fig.update_yaxes(title=t("scaling.fig.count"))
    fig.update_layout(showlegend=False)
    return _layout(fig, t("scaling.fig.zoom_title", step=f"{r.step:.4g}"), big=big, subtitle=t("scaling.fig.zoom_subtitle"))
