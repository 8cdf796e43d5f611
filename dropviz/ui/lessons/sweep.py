"""Lesson page "p is a hyperparameter": a live sweep over p and seeds with the lab's settings.

The lab's settings come from its widgets (st.session_state "w_<field>"), or from this page's
link on a session's first run; they travel in the link next to the page's own settings, so a
shared link reproduces the sweep. `lab_config`, `sync_url` and `live` are shared with the other
lesson pages of this module's neighbours (l2, costs).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import streamlit as st

from ...config import LabConfig, to_query
from ...i18n import translator
from ...lesson_figures.sweep import loss_vs_p_figure
from ...lessons.sweep import SETTINGS, SweepSpec, over_budget, p_grid, seeds_from, setting_config, summarise, verdict
from ...runner import BUDGET_GFLOP, Queued
from .. import controls, urlstate
from ..common import classroom_query, get_runner, hidden, lang, t, viewer_id
from ..live_chart import live_chart
from ..urlstate import Param

PAGE = "sweep"
FRAME = 0.5  # seconds between redraws of a running lesson experiment
PARAMS = {
    "setting": Param("lab", choices=tuple(SETTINGS)),
    "p_max": Param(0.9, 0.1, 0.95),
    "p_step": Param(0.15, 0.05, 0.5),
    "n_seeds": Param(3, 1, 5),
}


# --- shared by the lesson pages ---------------------------------------------------------------
def lab_config() -> tuple[LabConfig, list[str]]:
    """The lab's current settings, and the notices of a link whose lab values had to be clamped.

    The lab page loads the link into its widgets once per session; a lesson page opened first
    does that load, so ?width=8 works here too.
    """
    first = "url_notices" not in st.session_state
    notices = controls.load_url_once()
    return controls.read_config(), (notices if first else [])


def sync_url(page: str, params: dict[str, Param], config: LabConfig) -> None:
    """Address bar ← this page's settings (like urlstate.sync) plus the lab settings it uses."""
    current = urlstate.values(page, params)
    mine = {n: urlstate._fmt(v) for n, v in current.items() if v != params[n].default}
    wanted = {**to_query(config), **mine, **classroom_query()}
    if {k: st.query_params.get_all(k) for k in st.query_params} != {k: [v] for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)


def url_warning(page: str, changed: list[str], lab_notices: list[str]) -> None:
    """One warning naming every setting of the link that was not valid."""
    if changed or lab_notices:
        st.warning(t(f"{page}.url_warning") + "\n\n- " + "\n- ".join(changed + lab_notices))


def settings_line(config: LabConfig) -> str:
    """The lab settings a lesson uses, in one line."""
    return t("sweep.lab_line", width=config.width, depth=config.depth, epochs=f"{config.epochs:,}",
             n_points=config.n_points, noise=f"{config.noise:g}", dataset=config.dataset,
             optimizer=config.optimizer, lr=f"{config.lr:g}", seed=config.seed)


def live(spec: Any, draw: Callable[[Any, bool], None], page: str) -> None:
    """Watch `spec` in the shared runner and call draw(snapshot, live) on a timer until the job ends."""
    job = get_runner().watch(viewer_id(), spec)
    running = not job.finished
    st.fragment(_frame, run_every=FRAME if running else None)(spec, draw, page, running)


def _frame(spec: Any, draw: Callable[[Any, bool], None], page: str, running: bool) -> None:
    runner, viewer = get_runner(), viewer_id()
    job = runner.watch(viewer, spec)  # renews the lease; restarts a job the reaper ended
    snap = runner.latest(viewer)
    if job.error:
        st.error(job.error)
    if isinstance(snap, Queued):
        st.info(t(f"{page}.queued", ahead=snap.ahead))
    elif snap is None:
        st.info(t(f"{page}.starting"))
    else:
        st.progress(snap.iteration / max(snap.total, 1),
                    text=t(f"{page}.progress", it=f"{snap.iteration:,}", total=f"{snap.total:,}"))
        draw(snap, running)
    if running and job.finished:
        st.rerun(scope="app")  # the run ended: draw once more without the timer


# --- this page --------------------------------------------------------------------------------
def render() -> None:
    changed = urlstate.load(PAGE, PARAMS)
    base, lab_notices = lab_config()
    st.title(t("sweep.title"))
    if not hidden("explain"):
        st.markdown(t("sweep.intro"))
    url_warning(PAGE, changed, lab_notices)
    _controls()
    v = urlstate.values(PAGE, PARAMS)
    sync_url(PAGE, PARAMS, base)
    config = setting_config(base, v["setting"])
    spec = SweepSpec(config, p_grid(v["p_max"], v["p_step"]), seeds_from(config.seed, v["n_seeds"]))
    st.caption(t("sweep.used", n=spec.n_models, ps=len(spec.ps), seeds=len(spec.seeds),
                 setting=t(f"sweep.settings.{v['setting']}")) + " " + settings_line(config))
    cost = over_budget(spec)
    if cost:
        st.error(t("sweep.budget", cost=f"{cost:,.0f}", budget=f"{BUDGET_GFLOP:,.0f}"))
        return
    live(spec, lambda snap, running: _draw(spec, snap, running), PAGE)


def _controls() -> None:
    tr = translator(lang())  # bound now: format_func is also called outside the script run (AppTest)
    st.radio(t("sweep.labels.setting"), list(SETTINGS), key=urlstate.key(PAGE, "setting"), horizontal=True,
             format_func=lambda s: tr(f"sweep.settings.{s}"), help=t("sweep.help.setting"))
    a, b, c = st.columns(3)
    a.slider(t("sweep.labels.p_max"), 0.1, 0.95, step=0.05, key=urlstate.key(PAGE, "p_max"), help=t("sweep.help.p_max"))
    b.slider(t("sweep.labels.p_step"), 0.05, 0.5, step=0.05, key=urlstate.key(PAGE, "p_step"), help=t("sweep.help.p_step"))
    c.slider(t("sweep.labels.n_seeds"), 1, 5, key=urlstate.key(PAGE, "n_seeds"), help=t("sweep.help.n_seeds"))


def _draw(spec: SweepSpec, snap, running: bool) -> None:
    s = summarise(snap, len(spec.seeds))
    live_chart(loss_vs_p_figure(s, t=translator(lang())), key="sweep-loss", height=380)
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
