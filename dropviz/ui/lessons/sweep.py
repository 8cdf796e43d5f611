"""Lesson page "p is a hyperparameter": a live sweep over p and seeds with the lab's settings.

The lab's settings come from its widgets (st.session_state "w_<field>"), or from this page's
link on a session's first run; they travel in the link next to the page's own settings, so a
shared link reproduces the sweep.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from ...config import Setting, declare
from ...i18n import translator
from ...lesson_figures.sweep import loss_vs_p_figure
from ...lessons.sweep import SETTINGS, SweepSpec, over_budget, p_grid, seeds_from, setting_config, summarise, verdict
from ...budget import BUDGET_GFLOP
from .. import urlstate
from ..common import big, hidden, lang, t
from ..live_chart import live_chart
from .shared import lead, live, opening, settings_line, widget

PAGE = "sweep"
PARAMS = declare({
    "setting": Setting("lab", choices=tuple(SETTINGS), widget="radio"),
    "p_max": Setting(0.9, 0.1, 0.95, widget="slider", step=0.05),
    "p_step": Setting(0.15, 0.05, 0.5, widget="slider", step=0.05),
    "seeds_per_p": Setting(3, 1, 5, widget="slider", step=1),  # not n_seeds: the lab's own setting, in the same link
}, text=PAGE)


# --- this page --------------------------------------------------------------------------------
def render() -> None:
    base = opening(PAGE, PARAMS)
    with lead(None if hidden("explain") else t(f"{PAGE}.intro")):
        _controls()
        v = urlstate.values(PAGE, PARAMS)
        urlstate.sync(PAGE, PARAMS, lab=base)
        config = setting_config(base, v["setting"])
        spec = SweepSpec(config, p_grid(v["p_max"], v["p_step"]), seeds_from(config.seed, v["seeds_per_p"]))
        cost = over_budget(spec)
        if cost:
            st.error(t("sweep.budget", cost=f"{cost:,.0f}", budget=f"{BUDGET_GFLOP:,.0f}"))
        else:
            live(spec, lambda snap, running: _draw(spec, snap, running), PAGE)
    st.caption(t("sweep.used", n=spec.n_models, ps=len(spec.ps), seeds=len(spec.seeds),  # under the chart
                 setting=t(PARAMS["setting"].translation("options", v["setting"]))) + " " + settings_line(config))


def _controls() -> None:
    widget(st, PARAMS["setting"])
    for column, name in zip(st.columns(3), ("p_max", "p_step", "seeds_per_p")):
        widget(column, PARAMS[name])


def _draw(spec: SweepSpec, snap, running: bool) -> None:
    s = summarise(snap, len(spec.seeds))
    # 340 px: under this page's controls, the chart is whole on a 1280×720 projector and a 390×844 phone.
    live_chart(loss_vs_p_figure(s, t=translator(lang()), big=big()), key="sweep-loss", height=340)
    st.markdown(_verdict_text(s, snap, running))


def _verdict_text(s, snap, running: bool) -> str:
    """Who wins, in words computed from the numbers on the chart."""
    f = lambda x: f"{x:.3g}" if np.isfinite(x) else "—"
    v = verdict(s)
    when = "sweep.when_running" if running else "sweep.when_done"
    parts = [t(when, it=f"{snap.iteration:,}"),
             t(f"sweep.verdict.{v['kind']}", best=f"{v['best_p']:g}", best_loss=f(s.test_med[s.best]),
               base_loss=f(s.test_med[0]), gap=f"{abs(v['gap']):.0%}", worst=f"{s.ps[v['worst']]:g}",
               worst_loss=f(s.test_med[v['worst']]))]
    if v["kind"] == "helps":
        parts.append(t("sweep.verdict.clear" if v["clear"] else "sweep.verdict.overlap", best=f"{v['best_p']:g}"))
    if v["hurts_from"] is not None and v["kind"] != "hurts":
        parts.append(t("sweep.verdict.too_much", p=f"{v['hurts_from']:g}"))
    last = v["last"]
    if last > 0:
        up = s.train_med[last] > s.train_med[0]
        parts.append(t("sweep.verdict.train_up" if up else "sweep.verdict.train_not_up", tr0=f(s.train_med[0]),
                       trmax=f(s.train_med[last]), pmax=f"{s.ps[last]:g}"))
    if s.diverged:
        parts.append(t("sweep.verdict.diverged", n=s.diverged, total=s.train.size,
                       ps=", ".join(f"{p:g}" for p in v["diverged_ps"]) or "—"))
    return " ".join(parts)
