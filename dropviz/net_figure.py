"""The network view (netview.py's numbers) as a Plotly figure: one model's network drawn unit by unit.

Columns are the input x, the hidden layers and the output ŷ; each box draws its unit's output
over x (a thumbnail, as TensorFlow Playground's neurons do); an edge's colour is its weight's
sign and its width the weight's size, relative to the largest drawn edge of its layer in either
model, so the two networks compare. The units the last training step dropped are greyed and
crossed out with their edges: the thinned network that step trained.
"""

from __future__ import annotations

import numpy as np

from .figures import ENGLISH, OTHER_COLORS, Figure, Text, figure, model_name, rgba
from .netview import EXAMPLE, NetView
from .train import Snapshot

POSITIVE, NEGATIVE = OTHER_COLORS[1], OTHER_COLORS[0]  # teal and red: neither model's colour
EDGE_ALPHA = 0.7  # where 100 edges cross between two layers, the ones behind still show
FADED = "rgba(150,150,150,0.35)"  # a dropped unit's edges and thumbnail
LINE = "#333333"  # a kept unit's thumbnail and a dropped unit's cross
BOX_W, BOX_H = 0.2, 0.36  # half a unit's box, in columns and rows
EDGE_PX = (0.4, 0.9, 1.7, 3.0)  # edge widths for |w| in each quarter of the layer's largest
# A 2-D unit's image: white (its lowest output) to dark grey (its highest); a dropped unit's, faded.
# Grey, not the models' blue and orange. Values 0…1 are a kept unit's, 2…3 a dropped one's.
IMAGE_SCALE = [[0, "#FFFFFF"], [1 / 3, "#333333"], [2 / 3, "#F6F6F6"], [1, "#BBBBBB"]]
IMAGE_ROWS_PER_UNIT = 16  # image cells from one unit's row to the next: 10 cells of image fill 0.625 of 0.72


def network_figure(snap: Snapshot, model: int = 0, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Model `model`'s network (0: p = 0, 1: the dropout model in the lab's pair) at this snapshot."""
    net, p = snap.net, float(snap.ps[model])
    title = t("figures.net_title_full" if p == 0 else "figures.net_title_thinned", name=model_name(p, t))
    if net is None:
        return figure([], title, big=big, xaxis=dict(visible=False), yaxis=dict(visible=False))
    rows = [net.sizes[0]] + [net.n_drawn] * net.depth + [1]
    centres = [(np.arange(n) - (n - 1) / 2)[::-1] for n in rows]  # y of each column's units, top first
    kept = [np.ones(rows[0], bool)] + list(net.kept[model]) + [np.ones(1, bool)]
    traces = _edges(net, model, centres, kept) + _units(net, model, centres, kept, t)
    dropped = 1 - float(net.kept_share[model].mean())  # of all the layers' units, for that point
    when = t("figures.net_when_full" if p == 0 else "figures.net_when_thinned", it=f"{snap.iteration:,}",
             point=EXAMPLE + 1, dropped=f"{dropped:.0%}")
    subtitle = t("figures.net_drawn", k=net.n_drawn, width=net.sizes[1]) + "<br>" + when  # two short lines fit a phone
    labels = ["x₁, x₂" if net.plane else "x"] + [str(l + 1) for l in range(net.depth)] + ["ŷ"]
    top = max(rows) / 2
    annotations = [dict(text=text, x=c, y=-top, xref="x", yref="y", yanchor="top", showarrow=False)
                   for c, text in enumerate(labels)]
    return figure(traces, title, big=big, subtitle=subtitle, panel_title_lines=1, showlegend=False,
                  annotations=annotations,
                  margin=dict(l=8, r=8, b=30), hovermode="closest", dragmode=False,
                  xaxis=dict(visible=False, range=[-0.45, net.depth + 1.45], fixedrange=True),
                  yaxis=dict(visible=False, range=[-top - 0.6, top + 0.1], fixedrange=True))


def _edges(net: NetView, model: int, centres: list[np.ndarray], kept: list[np.ndarray]) -> list[dict]:
    """Every drawn edge as a segment, grouped into a trace per (sign, width) and one for the faded
    edges of dropped units: at most nine traces, however many edges."""
    parts = []  # per layer: (x0, y0, x1, y1, group) of each edge; group -1 faded, else 4·(w ≥ 0) + width
    for l, w in enumerate(net.weights):
        w = np.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0)  # a diverged model's edges: thin
        largest = float(np.abs(w).max()) or 1.0  # both models' largest: widths compare across the pair
        mine = w[model]
        y0, y1 = np.broadcast_arrays(centres[l][:, None], centres[l + 1][None, :])
        live = kept[l][:, None] & kept[l + 1][None, :]
        size = np.minimum((4 * np.abs(mine) / largest).astype(int), 3)
        group = np.where(live, 4 * (mine >= 0) + size, -1)
        parts.append(np.stack([np.full(y0.shape, l + BOX_W), y0, np.full(y0.shape, l + 1 - BOX_W), y1, group], -1)
                     .reshape(-1, 5))
    edges = np.concatenate(parts)
    traces = []
    for group in np.unique(edges[:, 4]):  # ascending: the faded ones (-1) first, below the others
        xs, ys = _segments(edges[edges[:, 4] == group, :4])
        g = int(group)
        color, width = (FADED, 0.6) if g < 0 else (rgba(POSITIVE if g >= 4 else NEGATIVE, EDGE_ALPHA), EDGE_PX[g % 4])
        traces.append(dict(type="scatter", x=xs, y=ys, mode="lines", hoverinfo="skip",
                           line=dict(color=color, width=width)))
    return traces


def _segments(segments) -> tuple[np.ndarray, np.ndarray]:
    """Segments (x0, y0, x1, y1) as one line trace's x and y, NaN between them (a gap)."""
    s = np.asarray(segments, dtype=np.float32)
    nan = np.full(len(s), np.nan, np.float32)
    return np.stack([s[:, 0], s[:, 2], nan], 1).ravel(), np.stack([s[:, 1], s[:, 3], nan], 1).ravel()


def _units(net: NetView, model: int, centres: list[np.ndarray], kept: list[np.ndarray], t: Text) -> list[dict]:
    """The units' boxes with their output thumbnails, crosses over the dropped ones, and an
    invisible marker per unit that carries its hover text (tapping works the same on a phone)."""
    curves = [net.inputs()] + list(net.outputs[model]) + [net.prediction[model][None]]  # an input's "output" is itself
    columns = np.concatenate([np.full(len(ys), c, np.float32) for c, ys in enumerate(centres)])
    ys, alive = np.concatenate(centres), np.concatenate(kept).astype(bool)
    out = np.concatenate(curves)  # (units, T), column by column
    out = np.where(np.isfinite(out), out, 0.0)  # a diverged model's units lie flat (the page names it diverged)
    lo, hi = out.min(1, keepdims=True), out.max(1, keepdims=True)
    v = np.where(hi > lo, (out - lo) / np.where(hi > lo, hi - lo, 1), 0)  # a unit off everywhere lies flat
    box_x = columns[:, None] + BOX_W * np.array([-1, 1, 1, -1, -1])
    box_y = ys[:, None] + BOX_H * np.array([-1, -1, 1, 1, -1])
    traces = []
    for state in (True, False):
        # Filled boxes, except over 2-D images: Plotly draws heatmaps below every scatter trace.
        fill = dict(fill="toself", fillcolor="white" if state else "#EEEEEE") if not net.plane else {}
        if (alive == state).any():
            traces.append(dict(type="scatter", x=_rows(box_x[alive == state]), y=_rows(box_y[alive == state]),
                               mode="lines", hoverinfo="skip", line=dict(color="#999999" if state else "#CCCCCC", width=1),
                               **fill))
    traces += _images(net, centres, v, alive) if net.plane else _lines(net, columns, ys, v, alive)
    if not alive.all():  # a cross over each dropped unit: its two diagonals
        c, y = columns[~alive], ys[~alive]
        diagonals = np.concatenate([np.stack([c - BOX_W, y - BOX_H, c + BOX_W, y + BOX_H], 1),
                                    np.stack([c - BOX_W, y + BOX_H, c + BOX_W, y - BOX_H], 1)])
        cx, cy = _segments(diagonals)
        traces.append(dict(type="scatter", x=cx, y=cy, mode="lines", hoverinfo="skip", line=dict(color=LINE, width=2)))
    units = [(c, i) for c, col in enumerate(centres) for i in range(len(col))]
    text = [_hover(net, c, i, bool(a), float(l), float(h), t) + ("" if net.plane else "<br>" + _sparkline(row))
            for (c, i), a, l, h, row in zip(units, alive, lo[:, 0], hi[:, 0], v)]
    traces.append(dict(type="scatter", x=columns, y=ys, mode="markers", hovertext=text, hoverinfo="text",
                       marker=dict(size=24, color="rgba(0,0,0,0)")))
    return traces


def _lines(net: NetView, columns: np.ndarray, ys: np.ndarray, v: np.ndarray, alive: np.ndarray) -> list[dict]:
    """1-D thumbnails: each unit's output over x (0…1 in `v`) as a line across its box."""
    u = (net.x - net.x.min()) / (np.ptp(net.x) or 1.0)  # thumbnail x across a box, 0…1
    line_x = columns[:, None] + BOX_W * (1.7 * u - 0.85)
    line_y = ys[:, None] + BOX_H * (1.6 * v - 0.8)
    return [dict(type="scatter", x=_rows(line_x[alive == state]), y=_rows(line_y[alive == state]), mode="lines",
                 hoverinfo="skip", line=dict(color=LINE if state else FADED, width=1.5))
            for state in (True, False) if (alive == state).any()]


def _images(net: NetView, centres: list[np.ndarray], v: np.ndarray, alive: np.ndarray) -> list[dict]:
    """2-D thumbnails, as Playground's neurons: each unit's output over the plane (0…1 in `v`, r × r)
    as an image in its box. One heatmap per column, its units' images stacked with transparent
    (NaN) rows between them; a dropped unit's image in the faded half of the colour scale."""
    side = len(net.x)
    cell_w, cell_h = 1.7 * BOX_W / side, 1 / IMAGE_ROWS_PER_UNIT  # a row of units is IMAGE_ROWS_PER_UNIT cells apart
    traces, first = [], 0
    for c, ys in enumerate(centres):
        n = len(ys)
        z = np.full(((n - 1) * IMAGE_ROWS_PER_UNIT + side, side), np.nan, np.float32)
        for i in range(n):  # ys run top first; z's rows bottom first
            image = v[first + i].reshape(side, side) + (0.0 if alive[first + i] else 2.0)
            row = (n - 1 - i) * IMAGE_ROWS_PER_UNIT
            z[row:row + side] = image
        first += n
        traces.append(dict(type="heatmap", z=z, x0=c - 0.85 * BOX_W + cell_w / 2, dx=cell_w,
                           y0=float(ys.min()) - (side - 1) * cell_h / 2, dy=cell_h, zmin=0, zmax=3,
                           colorscale=IMAGE_SCALE, showscale=False, hoverinfo="skip"))
    return traces


def _rows(a: np.ndarray) -> np.ndarray:
    """Each row a polyline, NaN between them: one trace's x or y."""
    return np.concatenate([a, np.full((len(a), 1), np.nan)], 1).astype(np.float32).ravel()


SPARK = "▁▂▃▄▅▆▇█"


def _sparkline(v: np.ndarray, points: int = 20) -> str:
    """A unit's output over x as a line of block characters (0…1 → ▁…█), low x on the left: its
    thumbnail, large, in the tooltip a hover or a tap opens (a tooltip holds text, not plots)."""
    picked = v[np.linspace(0, len(v) - 1, points).round().astype(int)]
    return "x: " + "".join(SPARK[int(round(float(u) * (len(SPARK) - 1)))] for u in picked)


def _hover(net: NetView, column: int, i: int, alive: bool, lo: float, hi: float, t: Text) -> str:
    """What tapping a unit says: which unit it is, whether this step dropped it, its output's range."""
    if column == 0:
        return t("figures.net_hover_input_plane", i=i + 1) if net.plane else t("figures.net_hover_input")
    if column == net.depth + 1:
        return t("figures.net_hover_output", lo=f"{lo:.3g}", hi=f"{hi:.3g}")
    unit = int(net.units[column - 1, i]) + 1
    state = t("figures.net_kept" if alive else "figures.net_dropped", point=EXAMPLE + 1)
    return t("figures.net_hover_unit", layer=column, unit=unit, width=net.sizes[column], state=state,
             lo=f"{lo:.3g}", hi=f"{hi:.3g}")
