"""Lesson page "What dropout costs": slower convergence (a live run) and BatchNorm's variance shift."""

from __future__ import annotations

import streamlit as st

from ...config import Setting, declare
from ...i18n import translator
from ...lesson_figures.costs import bn_figure, convergence_figure
from ...lessons.costs import RESOLUTION, BNStats, bn_curve, bn_variance, convergence_spec, iterations_to
from ...lessons.sweep import SweepSpec, over_budget
from ...budget import BUDGET_GFLOP
from .. import urlstate
from ..common import big, hidden, lang, t
from ..live_chart import live_chart
from .shared import lab_config, lead, live, settings_line, url_warning, widget

PAGE = "costs"
PARAMS = declare({
    "p1": Setting(0.25, 0.05, 0.9, widget="slider", step=0.05),
    "p2": Setting(0.5, 0.05, 0.9, widget="slider", step=0.05),
    "target": Setting(0.05, 0.001, 1.0, widget="number", step=0.01, fmt="%.3f"),
    "bn_p": Setting(0.5, 0.0, 0.9, widget="slider", step=0.05),
}, text=PAGE)
BN_GRID = [round(0.1 * i, 1) for i in range(10)]


def render() -> None:
    changed = urlstate.load(PAGE, PARAMS)
    base, lab_notices = lab_config(PAGE)
    st.title(t("costs.title"))
    url_warning(PAGE, changed, lab_notices)
    st.subheader(t("costs.conv_heading"))
    with lead(None if hidden("explain") else t("costs.conv_intro")):
        for column, name in zip(st.columns(3), ("p1", "p2", "target")):
            widget(column, PARAMS[name])
        v = urlstate.values(PAGE, PARAMS)
        ps = tuple(sorted({0.0, v["p1"], v["p2"]}))
        spec = convergence_spec(base, ps)
        cost = over_budget(spec)
        if cost:
            st.error(t("costs.budget", cost=f"{cost:,.0f}", budget=f"{BUDGET_GFLOP:,.0f}"))
        else:
            live(spec, lambda snap, running: _draw_convergence(spec, snap, running, v["target"]), PAGE)
    st.caption(settings_line(spec.config))  # under the chart: what it was trained with

    st.subheader(t("costs.bn_heading"))
    if not hidden("explain"):
        st.markdown(t("costs.bn_intro"))
    widget(st, PARAMS["bn_p"])
    v = urlstate.values(PAGE, PARAMS)
    urlstate.sync(PAGE, PARAMS, lab=base)
    _bn(v["bn_p"])


def _draw_convergence(spec: SweepSpec, snap, running: bool, target: float) -> None:
    reached = iterations_to(snap.history, target)
    live_chart(convergence_figure(snap.history, snap.ps, target, reached, snap.total, t=translator(lang()), big=big()),
               key="costs-convergence")
    st.markdown(_convergence_text(snap, reached, target, running))


def _convergence_text(snap, reached: list[int | None], target: float, running: bool) -> str:
    """Iterations each p needed to reach the target, compared with p = 0's, from the run itself."""
    parts = [t("costs.when_running" if running else "costs.when_done", it=f"{snap.iteration:,}")]
    base = reached[0]
    for p, it in zip(snap.ps, reached):
        p = f"{float(p):g}"
        if it is None:
            parts.append(t("costs.not_reached" if not running else "costs.not_yet", p=p, target=f"{target:g}",
                           it=f"{snap.iteration:,}"))
        elif p == "0" or base is None:
            parts.append(t("costs.reached", p=p, target=f"{target:g}", it=f"{it:,}"))
        else:
            parts.append(t("costs.reached_vs", p=p, target=f"{target:g}", it=f"{it:,}", ratio=f"{it / max(base, 1):.1f}"))
    parts.append(t("costs.resolution", step=max(1, snap.total // RESOLUTION)))
    return " ".join(parts)


@st.cache_data(max_entries=64, show_spinner=False)
def _bn_numbers(p: float) -> tuple[list[BNStats], BNStats]:
    """The BN experiment for the grid of p and for the chosen p (cheap: forward passes of a small net)."""
    return bn_curve(BN_GRID, draws=20), bn_variance(p, draws=20)


def _bn(p: float) -> None:
    curve, s = _bn_numbers(p)
    live_chart(bn_figure(curve, p, t=translator(lang()), big=big()), key="costs-bn", height=360)
    fields = dict(p=f"{p:g}", train_in=f"{s.train_in:.3g}", eval_in=f"{s.eval_in:.3g}", running=f"{s.running:.3g}",
                  predicted=f"{s.predicted:.3g}", train_out=f"{s.train_out:.3g}", eval_out=f"{s.eval_out:.3g}",
                  ratio=f"{s.train_in / s.eval_in:.2f}", scale=f"{(s.eval_out / s.train_out) ** 0.5:.2f}")
    close = abs(s.running - s.eval_in) <= 0.05 * s.eval_in
    st.markdown(t("costs.bn_match" if close else "costs.bn_shift", **fields))
