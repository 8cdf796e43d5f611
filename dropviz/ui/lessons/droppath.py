"""Lesson page "Dropout vs DropPath": element-wise masks next to per-sample masks on a residual block."""

from __future__ import annotations

import streamlit as st

from ...config import Setting, declare
from ...i18n import translator
from ...lesson_figures import droppath as figures
from ...lessons import droppath
from ...lessons.experiment import Experiment
from .. import urlstate
from ..common import big, hidden, lang, t
from ..live_chart import live_chart
from .shared import computed, lead, url_warning, widget

PAGE = "droppath"
PARAMS = declare({
    "p": Setting(0.2, 0.0, 0.9, widget="slider", step=0.05),  # drop probability of both methods
    "seed": Setting(0, 0, 2**31 - 1),  # seeds input, branch weights and masks; "new masks" adds one
}, text=PAGE)


def render() -> None:
    changed = urlstate.load(PAGE, PARAMS)
    st.title(t("droppath.title"))
    url_warning(PAGE, changed)
    with lead(t("droppath.intro", samples=droppath.SAMPLES, features=droppath.FEATURES)):
        _controls()
        v = urlstate.values(PAGE, PARAMS)
        urlstate.sync(PAGE, PARAMS)
        r = computed(Experiment(droppath.run, (v["p"], v["seed"])))
        if r is None:
            return
        tr = translator(lang())
        live_chart(figures.masks_figure(r, tr, big=big()), key="droppath-masks", height=380)
    left, right = st.columns([2, 3])
    with left:
        live_chart(figures.rates_figure(r, tr, big=big()), key="droppath-rates", height=340)
    with right:
        st.markdown(_table(r))
    if not hidden("explain"):
        st.markdown(t("droppath.where"))


def _new_masks() -> None:
    k = urlstate.key(PAGE, "seed")
    st.session_state[k] = (int(st.session_state.get(k, 0)) + 1) % 2**31


def _controls() -> None:
    left, right = st.columns([4, 1])
    if not hidden("p"):
        widget(left, PARAMS["p"])
    right.button(t("droppath.new_masks"), on_click=_new_masks, help=t("droppath.new_masks_help"),
                 use_container_width=True)


def _table(r: droppath.BlockResult) -> str:
    """Observed drop rates of both methods against p, and what each zeroes."""
    n_batches, entries = len(r.dropout_rates), droppath.SAMPLES * droppath.FEATURES
    return t("droppath.table", p=f"{r.p:g}", samples=droppath.SAMPLES, n=n_batches,
             d_rate=f"{r.dropout_rate:.1%}", dp_rate=f"{r.droppath_rate:.1%}",
             d_mean=f"{r.dropout_rates.mean():.1%}", dp_mean=f"{r.droppath_rates.mean():.1%}",
             d_std=f"{r.dropout_rates.std(ddof=1):.1%}", dp_std=f"{r.droppath_rates.std(ddof=1):.1%}",
             d_theory=f"{droppath.rate_std(r.p, entries):.1%}", dp_theory=f"{droppath.rate_std(r.p, droppath.SAMPLES):.1%}",
             d_partial=droppath.partial_rows(r.dropout_keep), dp_partial=droppath.partial_rows(r.droppath_keep),
             d_identity=int((r.dropout_out == r.x).all(axis=1).sum()), dp_identity=r.identity_rows)
