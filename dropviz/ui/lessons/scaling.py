"""Lesson page "Why 1/(1−p)?": the source's 10,000-ones experiment, live, inverted vs vanilla dropout."""

from __future__ import annotations

import streamlit as st

from ...config import Setting, declare
from ...i18n import translator
from ...lesson_figures import scaling as figures
from ...lessons import scaling
from ...lessons.experiment import Experiment
from .. import urlstate
from ..common import big, hidden, lang, t
from ..live_chart import live_chart
from .shared import computed, lead, url_warning, widget

PAGE = "scaling"
PARAMS = declare({
    "p": Setting(0.5, 0.0, 0.95, widget="slider", step=0.05),  # drop probability
    "draws": Setting(500, 50, 2000, widget="slider", step=50),  # train-mode forward passes, one fresh mask each
    "variant": Setting("inverted", choices=("inverted", "vanilla"), widget="radio"),
    "seed": Setting(0, 0, 2**31 - 1),  # seeds the masks; "new masks" adds one
}, text=PAGE)


def _run(p: float, draws: int, variant: str, seed: int) -> tuple[scaling.ScalingResult, tuple[float, float, float]]:
    """The experiment, and torch's nn.Dropout on it as the reference: (mean, std, eval output)."""
    ref = scaling.torch_reference(p, draws, seed)
    return scaling.run(p, draws, variant, seed), (float(ref.mean()), float(ref.std(ddof=1)), scaling.torch_eval(p))


def render() -> None:
    changed = urlstate.load(PAGE, PARAMS)
    st.title(t("scaling.title"))
    url_warning(PAGE, changed)
    with lead(t("scaling.intro")):
        _controls()
        v = urlstate.values(PAGE, PARAMS)
        urlstate.sync(PAGE, PARAMS)
        done = computed(Experiment(_run, (v["p"], v["draws"], v["variant"], v["seed"])))
        if done is None:
            return
        r, (ref_mean, ref_std, ref_eval) = done
        tr = translator(lang())
        left, right = st.columns(2)
        with left:
            live_chart(figures.histogram_figure(r, tr, big=big()), key="scaling-hist")
        with right:
            live_chart(figures.zoom_figure(r, tr, big=big()), key="scaling-zoom")
    st.markdown(_table(r))
    st.markdown(_claims(r))
    if not hidden("explain"):
        with st.expander(t("scaling.why_title"), expanded=False):
            st.markdown(t("scaling.why_body"))
            st.markdown(t("scaling.torch_ref", mean=f"{ref_mean:,.1f}", std=f"{ref_std:,.1f}", eval=f"{ref_eval:,.0f}",
                          draws=f"{v['draws']:,}"))


def _new_masks() -> None:
    k = urlstate.key(PAGE, "seed")
    st.session_state[k] = (int(st.session_state.get(k, 0)) + 1) % 2**31


def _controls() -> None:
    cols = st.columns([3, 3, 3, 2])
    if not hidden("p"):
        widget(cols[0], PARAMS["p"])
    widget(cols[1], PARAMS["draws"])
    widget(cols[2], PARAMS["variant"])
    cols[3].button(t("scaling.new_masks"), on_click=_new_masks, help=t("scaling.new_masks_help"),
                   use_container_width=True)


def _table(r: scaling.ScalingResult) -> str:
    """Observed against theory, side by side."""
    diff = r.mean - r.eval
    return t("scaling.table", mean=f"{r.mean:,.1f}", theory_mean=f"{r.theory_mean:,.1f}", std=f"{r.std:,.1f}",
             theory_std=f"{r.theory_std:,.1f}", eval=f"{r.eval:,.2f}", theory_eval=f"{r.theory_mean:,.2f}",
             diff=f"{diff:+,.1f}", se=f"{r.stderr:,.1f}", z=f"{abs(diff) / r.stderr:.1f}" if r.stderr else "0",
             std_formula=t(f"scaling.std_formula.{r.variant}"), mean_formula=t(f"scaling.mean_formula.{r.variant}"),
             eval_formula=t(f"scaling.eval_formula.{r.variant}"), draws=f"{r.train.size:,}")


def _claims(r: scaling.ScalingResult) -> str:
    """The page's claims, each with the number that backs it, computed now."""
    first = r.train[:4]
    kept = [f"{x / r.step:,.0f}" for x in first]
    lines = [t("scaling.claim_sum", step=f"{r.step:.4g}", kept=", ".join(kept),
               outs=", ".join(f"{x:,.6g}" for x in first))]
    lines.append(t("scaling.claim_even", share=f"{r.even_share:.1%}", draws=f"{r.train.size:,}"))
    other = "vanilla" if r.variant == "inverted" else "inverted"
    lines.append(t(f"scaling.claim_{r.variant}", p=f"{r.p:g}", keep=f"{1 - r.p:g}", eval=f"{r.eval:,.2f}", other=t(PARAMS["variant"].translation("options", other))))
    return "\n".join(f"- {line}" for line in lines)
