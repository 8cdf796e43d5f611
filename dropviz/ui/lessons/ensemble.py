"""Lesson page "Dropout as an ensemble": the lab's dropout model as T sub-networks, their average and eval mode."""

from __future__ import annotations

import functools
import time

import numpy as np
import streamlit as st

from ...config import SCHEMA, LabConfig, Setting, declare
from ...i18n import translator
from ...lesson_figures import ensemble as figures
from ...lessons import ensemble
from ...lessons.experiment import Experiment
from .. import controls, urlstate
from ..common import big, hidden, lang, t
from ..live_chart import live_chart
from .shared import computed, lead, url_warning, widget

PAGE = "ensemble"
PARAMS = declare({
    "act": Setting("relu", choices=tuple(ensemble.ACTIVATIONS), widget="radio"),  # the network's activation
    "masks": Setting(100, 10, 300, widget="slider", step=10),  # sub-networks drawn
    "mask_seed": Setting(0, 0, 2**31 - 1),  # seeds their masks; "new masks" adds one
}, text=PAGE)
LAB_KEYS = [controls.KEY(name) for name in SCHEMA] + ["w_preset"]
NEAR, FAR = 0.05, 0.5  # distances from the nearest training point compared in the text
Z_SAMPLING = 3.0  # a gap under 3 standard errors (root mean square over x) is sampling noise


@functools.lru_cache(maxsize=4)
def _trained(config: LabConfig, activation: str) -> tuple[ensemble.Net, float]:
    """The trained network (shared by every mask draw, never modified) and the seconds its training took."""
    start = time.perf_counter()
    net = ensemble.train(config, activation)
    return net, time.perf_counter() - start


def _sample(config: LabConfig, activation: str, masks: int, seed: int) -> tuple[ensemble.Ensemble, float]:
    """A draw of sub-networks of the trained network (trained first, once), and its training time."""
    net, seconds = _trained(config, activation)
    return ensemble.sample(net, config, masks, seed), seconds


def render() -> None:
    changed = urlstate.load(PAGE, PARAMS)
    notices = controls.load_url_once()  # the lab's settings may be in the link too
    lab_config = controls.read_config()
    config = ensemble.budgeted(lab_config)
    st.title(t("ensemble.title"))
    url_warning(PAGE, changed, notices)
    with lead(t("ensemble.intro")):
        _controls()
        v = urlstate.values(PAGE, PARAMS)
        urlstate.sync(PAGE, PARAMS, lab=lab_config)  # with the lab's settings: a shared link trains the same model
        masks = ensemble.budgeted_masks(v["masks"], config)
        done = computed(Experiment(_sample, (config, v["act"], masks, v["mask_seed"])))
        if done is None:
            return
        ens, seconds = done
        if config.p == 0:
            st.info(t("ensemble.no_dropout"))
        tr = translator(lang())
        # Halves on a projector: the spread chart's axis title at 16 px needs the width.
        left, right = st.columns([1, 1] if big() else [3, 2])
        with left:
            live_chart(figures.ensemble_figure(ens, tr, big=big()), key="ensemble-curves", height=400)
        with right:
            live_chart(figures.spread_figure(ens, tr, big=big()), key="ensemble-spread", height=400)
    st.caption(_model_caption(lab_config, config, v["act"], seconds))  # under the charts: the model they show
    if masks < v["masks"]:
        st.caption(t("ensemble.masks_capped", used=masks, asked=v["masks"]))
    st.markdown(_claims(ens, v["act"]))
    if not hidden("explain"):
        with st.expander(t("ensemble.why_title")):
            st.markdown(t("ensemble.why_body"))


def _new_masks() -> None:
    k = urlstate.key(PAGE, "mask_seed")
    st.session_state[k] = (int(st.session_state.get(k, 0)) + 1) % 2**31


def _controls() -> None:
    cols = st.columns([3, 3, 2])
    widget(cols[0], PARAMS["act"])
    widget(cols[1], PARAMS["masks"])
    cols[2].button(t("ensemble.new_masks"), on_click=_new_masks, help=t("ensemble.new_masks_help"),
                   use_container_width=True)


def _model_caption(lab: LabConfig, used: LabConfig, act: str, seconds: float) -> str:
    text = t("ensemble.model", p=f"{used.p:g}", width=used.width, depth=used.depth, epochs=f"{used.epochs:,}",
             points=used.n_points, dataset=t(f"lab.options.dataset.{used.dataset}"), seed=used.seed,
             seconds=f"{seconds:.1f}")
    if used.epochs < lab.epochs:
        text += " " + t("ensemble.capped", lab=f"{lab.epochs:,}", used=f"{used.epochs:,}")
    if act == "linear":
        text += " " + t("ensemble.linear_note", clip=f"{ensemble.LINEAR_CLIP:g}")
    return text


def _mean_where(values: np.ndarray, where: np.ndarray) -> str:
    return f"{values[where].mean():.3f}" if where.any() else "–"


def _claims(ens: ensemble.Ensemble, act: str) -> str:
    """Every claim with its number, computed from this draw of sub-networks."""
    z = ensemble.gap_in_stderrs(ens)
    gap = t("ensemble.gap", mean=f"{ens.gap.mean():.3f}", max=f"{ens.gap.max():.3f}", n=len(ens.subnets),
            se=f"{ens.stderr.mean():.3f}", z=f"{z:.1f}")
    verdict = t("ensemble.sampling" if z < Z_SAMPLING else "ensemble.systematic", z=f"{z:.1f}")
    why = t(f"ensemble.why_{act}")
    d = ens.distance
    corr = np.corrcoef(d, ens.spread)[0, 1] if ens.spread.std() > 0 else float("nan")
    spread = t("ensemble.spread", near=_mean_where(ens.spread, d < NEAR), far=_mean_where(ens.spread, d > FAR),
               near_d=f"{NEAR:g}", far_d=f"{FAR:g}", corr=f"{corr:.2f}" if np.isfinite(corr) else "–")
    return f"- {gap} {verdict} {why}\n- {spread}"
