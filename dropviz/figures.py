"""Plotly figures from snapshots: pure functions, data in, figure out, no state and no training.

A figure here is Plotly's own JSON form, a dict {"data": [trace, …], "layout": {…}}, with numpy
arrays inside. Building go.Figure objects validates every property and took 10–80 ms per chart,
several times a second per viewer; a dict takes microseconds and Plotly draws it the same.
Every function takes `t`, a translator (dropviz.i18n.translator), for the text on the chart.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .i18n import translator
from .train import Snapshot
from .verdict import over_seeds

Figure = dict[str, Any]
Text = Callable[..., str]
ENGLISH = translator("en")

# The baseline and the dropout model keep their colours on every chart and page (colour-blind safe
# pair): blue is p = 0, orange is dropout. Other quantities never use these two.
MODEL_COLORS = ("#4C78A8", "#F58518")
POINT_COLOR = "#54A24B"  # training points (green), and on other pages what is measured on them
TEST_COLOR = "#B279A2"  # test points (purple), and test losses
OTHER_COLORS = ("#E45756", "#2E8B84", "#9D755D", "#555555")  # red, teal, brown, dark grey: neither model
MAX_MASK_UNITS = 128  # rows of a mask heatmap; wider layers show their first units
MAX_MASK_SAMPLES = 64
# The loss chart shows 5 decades below its highest loss: p = 0's train loss heads for 0 (10⁻¹⁰ and
# lower), and all the way down it would squash both test losses, the lesson, into the top decade.
LOSS_DECADES = 5
KEY_GREY = "#777777"  # a legend key's line: a style, not a model

# Chart text: Plotly's 12 px on a screen; `big` (the page's ?big=1, a projector) makes all of it ≥ 16 px.
FONT_PX = {False: 12, True: 16}
TITLE_PX = {False: 15, True: 20}
MODEBAR_PX = 28  # Plotly's toolbar row (top right, on hover or touch): titles sit below it, never under it
# The toolbar's buttons a class needs: PNG download, zoom, pan, reset. Fewer buttons, a narrower bar.
MODEBAR_REMOVE = ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]


def model_name(p: float, t: Text = ENGLISH) -> str:
    """How a model is called on every chart: by its drop probability."""
    return t("figures.baseline") if p == 0 else t("figures.dropout", p=f"{p:g}")


def model_color(p: float) -> str:
    """The colour of a model on every chart: blue without dropout, orange with."""
    return MODEL_COLORS[0] if p == 0 else MODEL_COLORS[1]


def p_colors(ps) -> list[str]:
    """Colours for several models told apart by p: p = 0 blue; the dropout ones orange, from light
    (smallest p) to dark (largest), one dropout p alone the lab's orange."""
    drops = sorted({float(p) for p in ps if p != 0})
    light, dark = np.array([253, 190, 120]), np.array([166, 72, 8])
    shade = {}
    for i, p in enumerate(drops):
        if len(drops) == 1:
            shade[p] = MODEL_COLORS[1]
        else:
            r, g, b = (light + (dark - light) * i / (len(drops) - 1)).round().astype(int)
            shade[p] = f"#{r:02X}{g:02X}{b:02X}"
    return [MODEL_COLORS[0] if p == 0 else shade[float(p)] for p in ps]


def rgba(color: str, alpha: float) -> str:
    """'#RRGGBB' with an opacity, for fills."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def figure(data: list[dict], title: str, height: int = 340, *, big: bool = False, subtitle: str = "",
           panel_title_lines: int = 0, **layout: Any) -> Figure:
    """A figure dict with the layout every chart shares.

    The title (and the subtitle, a line of smaller text under it) sits on its own line below
    Plotly's toolbar row, so the toolbar never covers it on a phone; the top margin leaves room
    for both and for `panel_title_lines` lines of panel titles above the plots. `big` sets every
    text on the chart to ≥ 16 px for a projector. Axes grow their margins to fit their labels.
    """
    px, title_px = FONT_PX[big], TITLE_PX[big]
    top = MODEBAR_PX + round(1.4 * title_px) + (round(1.5 * px) if subtitle else 0)
    top += round(1.35 * px * panel_title_lines) + (10 if panel_title_lines else 0)
    head = dict(text=title, x=0, xref="container", xanchor="left", y=1, yref="container", yanchor="top",
                pad=dict(t=MODEBAR_PX, l=8), font=dict(size=title_px), automargin=False)
    if subtitle:
        head["subtitle"] = dict(text=subtitle, font=dict(size=px))
    margin = dict(l=50, r=10, t=top, b=40)
    margin.update(layout.pop("margin", {}))
    base = dict(title=head, height=height, margin=margin, font=dict(size=px), hoverlabel=dict(font=dict(size=px)),
                # Below everything, in the container: Plotly grows the bottom margin to fit its rows.
                legend=dict(orientation="h", x=0, xref="container", y=0, yref="container", yanchor="bottom",
                            font=dict(size=px)),
                modebar=dict(remove=MODEBAR_REMOVE))
    out = {**base, **layout}
    for key, axis in out.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            axis.setdefault("automargin", True)  # tick labels and titles (layout.font's size) get room
    return {"data": data, "layout": out}


def panels(n: int, titles: list[str], cols: int | None = None, gap: float = 0.04, vgap: float = 0.16) -> dict[str, Any]:
    """Layout for n panels in rows of `cols` (all in one row by default): axes x, x2, … with their
    titles as annotations above each panel."""
    cols = n if cols is None else max(1, min(cols, n))
    rows = -(-n // cols)
    width = (1 - gap * (cols - 1)) / cols
    height = (1 - vgap * (rows - 1)) / rows
    layout: dict[str, Any] = {"annotations": []}
    for i in range(n):
        row, col = divmod(i, cols)
        left, top = col * (width + gap), 1 - row * (height + vgap)
        suffix = "" if i == 0 else str(i + 1)
        layout[f"xaxis{suffix}"] = dict(domain=[left, left + width], anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = dict(domain=[top - height, top], anchor=f"x{suffix}")
        layout["annotations"].append(dict(text=titles[i], x=left + width / 2, y=top, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False))
    return layout


def columns(n: int, titles: list[str], gap: float = 0.04) -> dict[str, Any]:
    """Layout for n side-by-side panels (one row of `panels`)."""
    return panels(n, titles, gap=gap)


def panel_axes(i: int) -> dict[str, str]:
    """Which panel a trace belongs to, for `panels` layouts."""
    return {} if i == 0 else {"xaxis": f"x{i + 1}", "yaxis": f"y{i + 1}"}


def _first_of_each_p(ps) -> list[bool]:
    """Whether model m is the first with its p: one legend entry per p, however many seeds."""
    seen: set[float] = set()
    first = []
    for p in ps:
        first.append(float(p) not in seen)
        seen.add(float(p))
    return first


def fit_figure(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Training and test points, each model's eval-mode curve and, if sampled, the MC-dropout band."""
    data = snap.data
    traces = [
        dict(type="scatter", x=data.x_grid[:, 0], y=data.y_grid[:, 0], mode="lines",
             name=t("figures.true_function"), line=dict(color="gray", dash="dot", width=1)),
        dict(type="scatter", x=data.x_test[:, 0], y=data.y_test[:, 0], mode="markers",
             name=t("figures.test_points"), marker=dict(color=TEST_COLOR, size=5, opacity=0.6)),
        dict(type="scatter", x=data.x_train[:, 0], y=data.y_train[:, 0], mode="markers",
             name=t("figures.training_points"), marker=dict(color=POINT_COLOR, size=9, line=dict(color="white", width=1))),
    ]
    first = _first_of_each_p(snap.ps)
    for m, p in enumerate(snap.ps):
        color = model_color(p)
        if snap.mc_mean is not None and p > 0:
            lo, hi = snap.mc_mean[m] - 2 * snap.mc_std[m], snap.mc_mean[m] + 2 * snap.mc_std[m]
            traces.append(dict(type="scatter", x=np.concatenate([snap.mc_x, snap.mc_x[::-1]]),
                               y=np.concatenate([hi, lo[::-1]]), fill="toself", mode="none",
                               fillcolor=rgba(color, 0.18), name=t("figures.mc_band", p=f"{p:g}"),
                               legendgroup=f"band{p:g}", showlegend=first[m], hoverinfo="skip"))
        traces.append(dict(type="scatter", x=snap.x_grid, y=snap.pred[m], mode="lines", name=model_name(p, t),
                           legendgroup=f"{p:g}", showlegend=first[m], line=dict(color=color, width=3)))
    y_all = np.concatenate([data.y_train[:, 0], data.y_test[:, 0]])
    pad = 0.3 * float(y_all.max() - y_all.min() + 1e-6)
    return figure(traces, t("figures.fit_title"), big=big, xaxis=dict(title=dict(text="x")),
                  yaxis=dict(title=dict(text="y"), range=[float(y_all.min()) - pad, float(y_all.max()) + pad]))


def loss_figure(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Train (dashed) and test (solid) MSE of each model against iteration, log scale.

    The legend names each model once (clicking it hides both its lines) and says what the dashes
    mean in a key of its own: four short entries that flow two to a row, where "train, p = 0 (no
    dropout)" and its three siblings took four rows and left a projector's plot a strip."""
    h = snap.history
    traces = []
    first = _first_of_each_p(snap.ps)
    for m, p in enumerate(snap.ps):
        color, name = model_color(p), model_name(p, t)
        for kind, dash, width in (("train", "dash", 2), ("test", "solid", 3)):
            traces.append(dict(type="scatter", x=h["iteration"], y=_positive(h[kind][:, m]), mode="lines",
                               name=name, legendgroup=f"{p:g}", showlegend=first[m] and kind == "test",
                               hovertemplate=f"%{{x}}: %{{y:.3g}}<extra>{t(f'figures.{kind}_of', name=name)}</extra>",
                               line=dict(color=color, dash=dash, width=width)))
    for kind, dash in (("train", "dash"), ("test", "solid")):  # the key: a line style, no data
        traces.append(dict(type="scatter", x=[None], y=[None], mode="lines", name=t(f"figures.{kind}_key"),
                           legendgroup=f"key-{kind}", hoverinfo="skip", line=dict(color=KEY_GREY, dash=dash, width=2)))
    return figure(traces, t("figures.loss_title"), big=big,
                  xaxis=dict(title=dict(text=t("figures.iteration")), range=[0, snap.total]),
                  yaxis=dict(title=dict(text=t("figures.mse_axis")), **log_axis(h["train"], h["test"], decades=LOSS_DECADES)))


def log_axis(*arrays: np.ndarray, decades: float | None = None) -> dict[str, Any]:
    """A log axis a student can read: over two decades or more its labels are powers of ten (10⁻³,
    never SI's 1m or 100μ, nor 1×10⁻³), at most ~6 of them; over less, 1-2-5 steps as plain numbers.
    `decades`: show at most that many below the largest value (lower values run off the bottom)."""
    values = _finite_positive(*arrays)
    if decades is not None and values.size:
        floor = values.max() / 10.0 ** decades
        if values.min() < floor:  # only then: losses within fewer decades fill the chart's height
            values = np.append(values[values >= floor], floor)
    ticks = log_ticks(values)
    powers = all(tick_label(v).startswith("10<sup>") for v in ticks)  # else 1-2-5 steps: all plain
    axis = dict(type="log", exponentformat="power", tickvals=ticks, ticktext=[tick_label(v, powers) for v in ticks])
    if decades is not None and values.size:
        axis["range"] = [float(np.log10(values.min())) - 0.05, float(np.log10(values.max())) + 0.05]
    return axis


def tick_label(value: float, powers: bool = True) -> str:
    """'10<sup>−4</sup>' for a power of ten (with `powers`), else a plain number ('0.2', '1', '50');
    tiny or huge ones as 2×10<sup>−5</sup>."""
    exponent = int(np.floor(np.log10(value) + 1e-9))
    mantissa = round(value / 10.0 ** exponent, 6)
    power = f"10<sup>{'−' if exponent < 0 else ''}{abs(exponent)}</sup>"
    if -3 <= exponent <= 4 and not (powers and mantissa == 1):
        return f"{value:g}"
    return power if mantissa == 1 else f"{mantissa:g}×{power}"


def _finite_positive(*arrays: np.ndarray) -> np.ndarray:
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.zeros(0)
    return values[np.isfinite(values) & (values > 0)]


def log_ticks(*arrays: np.ndarray, most: int = 6) -> list[float]:
    """Powers of ten across the data (every k-th, so at most `most` + 1 of them); when it spans
    less than two decades, the 1-2-5 steps inside it instead (powers alone would leave one label)."""
    values = _finite_positive(*arrays)
    if not values.size:
        return []
    low, high = np.log10(values.min()), np.log10(values.max())
    lo, hi = int(np.floor(low)), int(np.ceil(high))
    if high - low < 2:
        steps = [s * 10.0 ** e for e in range(lo, hi + 1) for s in (1, 2, 5)]
        inside = [float(v) for v in steps if low - 0.1 <= np.log10(v) <= high + 0.1]
        return inside if len(inside) >= 2 else [float(v) for v in steps]
    step = -(-(hi - lo) // most)
    return [float(10.0 ** e) for e in range(hi, lo - step, -step)][::-1]


def symmetric_ticks(values: np.ndarray) -> list[float]:
    """Three ticks, −a, 0 and a, with a a round number near half the largest |value|: labels well
    inside the panel, where the edges' labels of side-by-side panels would run into each other."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    half = float(finite.max()) / 2 if finite.size and finite.max() > 0 else 1.0
    exponent = np.floor(np.log10(half))
    a = min((s * 10.0 ** exponent for s in (1, 2, 5, 10)), key=lambda v: abs(np.log(v / half)))
    return [-float(a), 0.0, float(a)]


def _positive(values: np.ndarray) -> np.ndarray:
    """Log axes cannot show 0, NaN or inf: those become gaps."""
    out = values.astype(float).copy()
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def masks_figure(snap: Snapshot, model: int = -1, t: Text = ENGLISH, big: bool = False) -> Figure:
    """The Bernoulli keep masks of the last training step, one heatmap per hidden layer (units × samples)."""
    masks = snap.masks[model]  # (depth, N, H)
    p = f"{float(snap.ps[model]):g}"
    depth, units = masks.shape[0], masks.shape[2]
    if depth == 0:  # before the first training step
        return figure([], t("figures.masks_title", p=p), big=big,
                      annotations=[dict(text=t("figures.masks_empty"), showarrow=False, xref="paper", yref="paper",
                                        x=0.5, y=0.5)], xaxis=dict(visible=False), yaxis=dict(visible=False))
    rates = snap.drop_rate[model]
    # Two short lines per panel ("layer 1" / "49.5% dropped"): three panels fit side by side on a phone;
    # four to six do with whole percents.
    rate = "{:.1%}" if depth <= 3 else "{:.0%}"
    layout = panels(depth, [t("figures.layer", layer=l + 1) + "<br>" + t("figures.rate_dropped", rate=rate.format(rates[l]))
                            for l in range(depth)], gap=0.03)
    traces = []
    for l in range(depth):
        z = masks[l][:MAX_MASK_SAMPLES, :MAX_MASK_UNITS].T  # rows: units, columns: training samples
        traces.append(dict(type="heatmap", z=z, zmin=0, zmax=1, showscale=False, xgap=1,
                           colorscale=[[0, "#1f1f1f"], [1, MODEL_COLORS[1]]],
                           hovertemplate="%{y}, %{x}: %{z}<extra>" + t("figures.mask_hover") + "</extra>", **panel_axes(l)))
        layout["xaxis" + ("" if l == 0 else str(l + 1))].update(title=dict(text=t("figures.sample")), nticks=3)
        if l:  # unit numbers once, on the left: inner labels would overlap the next panel
            layout[f"yaxis{l + 1}"]["showticklabels"] = False
    layout["yaxis"]["title"] = dict(text=t("figures.unit"))
    shown = min(units, MAX_MASK_UNITS)
    count = t("figures.units_first", shown=shown, total=units) if units > shown else t("figures.units_all", total=units)
    return figure(traces, t("figures.masks_title", p=p), big=big, subtitle=f"{t('figures.masks_key')} · {count}",
                  panel_title_lines=2, **layout)


def weight_norm_figure(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Each layer's weight norm over time as a change from its start, one panel per layer (own y
    scale), both models in each: on one shared scale the output layer's growth (~×3 at p = 0)
    flattens the hidden layers' few per cent to a line at 1.0."""
    h = snap.history
    norms = h["weight_norm"]  # (K, layers, M)
    layers = norms.shape[1] if norms.ndim == 3 and len(norms) else 0
    if not layers:
        return figure([], t("figures.norm_title"), big=big)
    change = 100 * (norms / np.where(norms[:1] > 0, norms[:1], np.nan) - 1)  # % since iteration 0
    titles = [t("figures.layer", layer=l + 1) if l < layers - 1 else t("figures.output_layer", layer=l + 1)
              for l in range(layers)]
    layout = panels(layers, titles, cols=2, gap=0.12, vgap=0.14)
    first = _first_of_each_p(snap.ps)
    hover = "%{x}: %{y:+.1f}% (‖W‖ = %{customdata:.3g})<extra>%{fullData.name}</extra>"
    traces = []
    for l in range(layers):
        for m, p in enumerate(snap.ps):
            traces.append(dict(type="scatter", x=h["iteration"], y=change[:, l, m], customdata=norms[:, l, m],
                               mode="lines", name=model_name(p, t), legendgroup=f"{p:g}",
                               showlegend=l == 0 and first[m], hovertemplate=hover,
                               line=dict(color=model_color(p), width=2.5), **panel_axes(l)))
        suffix = "" if l == 0 else str(l + 1)
        layout[f"xaxis{suffix}"].update(range=[0, snap.total], nticks=3)
        layout[f"yaxis{suffix}"].update(ticksuffix="%", nticks=4, zeroline=True)
        if l % 2 == 0:
            layout[f"yaxis{suffix}"]["title"] = dict(text=t("figures.norm_axis"))
        if l >= layers - 2:  # the bottom row of each column: iterations once, not under every panel
            layout[f"xaxis{suffix}"]["title"] = dict(text=t("figures.iteration"))
        else:
            layout[f"xaxis{suffix}"]["showticklabels"] = False
    return figure(traces, t("figures.norm_title"), big=big, subtitle=t("figures.norm_subtitle"),
                  panel_title_lines=1, **layout)


def weight_hist_figure(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Histograms of each layer's weights for both models, on shared bins."""
    hists = snap.weight_hist
    title = t("figures.hist_title")
    if not hists:
        return figure([], title, big=big)
    layout = panels(len(hists), [t("figures.layer", layer=l + 1) for l in range(len(hists))], gap=0.03)
    first = _first_of_each_p(snap.ps)
    traces = []
    for l, (counts, edges) in enumerate(hists):
        centers = (edges[:-1] + edges[1:]) / 2
        for m, p in enumerate(snap.ps):
            traces.append(dict(type="bar", x=centers, y=counts[m], name=model_name(p, t), legendgroup=f"{p:g}",
                               showlegend=l == 0 and first[m], marker=dict(color=model_color(p)), opacity=0.6,
                               **panel_axes(l)))
        suffix = "" if l == 0 else str(l + 1)
        layout[f"yaxis{suffix}"]["showticklabels"] = False  # counts differ by layer: the shapes compare
        ticks = symmetric_ticks(edges)  # at 16 px (big) three labels overrun a quarter panel: ±a only
        layout[f"xaxis{suffix}"].update(title=dict(text=t("figures.weight")), tickangle=0,
                                        tickvals=[ticks[0], ticks[2]] if big else ticks)
    layout["yaxis"]["title"] = dict(text=t("figures.count"))
    return figure(traces, title, big=big, barmode="overlay", bargap=0, panel_title_lines=1, **layout)


def seeds_figure(snap: Snapshot, t: Text = ENGLISH, big: bool = False) -> Figure:
    """Each seed's test loss now (at the end: final) for p = 0 and for dropout, a grey line joining
    one seed's two models and a bar at each model's median: the spread over seeds, beside the loss
    chart, which shows the charted seed alone. That seed's dots are the larger, ringed ones. The
    medians are the verdict's (dropviz.verdict: a diverged model counts as the highest loss)."""
    v = over_seeds(snap)
    test = _positive(np.array([v.test_p0, v.test_p], dtype=float).T)  # (seeds, 2); diverged: gaps
    n, seeds = v.n, np.array(v.seeds)
    joins_x = np.tile([0.0, 1.0, np.nan], n)
    joins_y = np.column_stack([test, np.full(n, np.nan)]).ravel()
    traces = [dict(type="scatter", x=joins_x, y=joins_y, mode="lines", name=t("figures.seed_pair"), showlegend=False,
                   hoverinfo="skip", line=dict(color="#BBBBBB", width=1.5))]
    charted = np.arange(n) == 0
    for col, (p, median) in enumerate(((0.0, v.median_p0), (v.p, v.median_p))):
        color = model_color(p)
        traces.append(dict(type="scatter", x=np.full(n, float(col)), y=test[:, col], mode="markers",
                           name=model_name(p, t), customdata=seeds,
                           hovertemplate=t("figures.seed_hover") + "<extra>%{fullData.name}</extra>",
                           marker=dict(color=color, size=np.where(charted, 13, 9),
                                       line=dict(color="#1f1f1f", width=np.where(charted, 2, 0)))))
        if np.isfinite(median):
            traces.append(dict(type="scatter", x=[col - 0.3, col + 0.3], y=[median, median], mode="lines",
                               name=t("figures.median_of", name=model_name(p, t)), showlegend=False,
                               hovertemplate=t("figures.median_hover") + "<extra>%{fullData.name}</extra>",
                               line=dict(color=color, width=3)))
    key = "figures.seeds_final" if v.final else "figures.seeds_now"
    return figure(traces, t("figures.seeds_title", n=n), big=big, subtitle=t(key, it=f"{v.iteration:,}"),
                  xaxis=dict(title=dict(text=t("figures.model")), tickvals=[0, 1], range=[-0.5, 1.5],
                             ticktext=[model_name(0.0, t), model_name(v.p, t)]),
                  yaxis=dict(title=dict(text=t("figures.seed_axis_bce" if snap.classification
                                               else "figures.seed_axis")), **log_axis(test)))
