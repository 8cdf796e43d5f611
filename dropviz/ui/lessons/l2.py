"""Lesson page "Dropout vs L2": neither, dropout, weight decay and both, trained live side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from ...config import Setting, declare
from ...i18n import translator
from ...lesson_figures.l2 import hist_figure, model_label, norm_figure, loss_figure
from ...lessons.l2 import MODELS, L2Snapshot, L2Spec, shrinkage, spread
from ...budget import BUDGET_GFLOP, run_cost
from .. import urlstate
from ..common import big, hidden, lang, t
from ..live_chart import live_chart
from .shared import lead, live, opening, settings_line, widget

PAGE = "l2"
PARAMS = declare({
    "drop": Setting(0.5, 0.0, 0.9, widget="slider", step=0.05),
    "decay": Setting(0.01, 0.0, 0.1, widget="stops", options=(0.0, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)),
}, text=PAGE)


def render() -> None:
    base = opening(PAGE, PARAMS)
    with lead(None if hidden("explain") else t(f"{PAGE}.intro")):
        for column, name in zip(st.columns(2), PARAMS):
            widget(column, PARAMS[name])
        v = urlstate.values(PAGE, PARAMS)
        urlstate.sync(PAGE, PARAMS, lab=base)
        spec = L2Spec.create(base, v["drop"], v["decay"])
        cost = run_cost(spec.config, models=4).gflop  # two pairs in one job
        if cost > BUDGET_GFLOP:
            st.error(t("l2.budget", cost=f"{cost:,.0f}", budget=f"{BUDGET_GFLOP:,.0f}"))
        else:
            live(spec, _draw, PAGE)
    st.caption(settings_line(spec.config))  # under the charts: what they were trained with


def _draw(snap: L2Snapshot, running: bool) -> None:
    tr = translator(lang())
    left, right = st.columns(2)
    with left:
        live_chart(loss_figure(snap, t=tr, big=big()), key="l2-test")
    with right:
        live_chart(norm_figure(snap, t=tr, big=big()), key="l2-norms")
    live_chart(hist_figure(snap, t=tr, big=big()), key="l2-hist", height=300)
    st.markdown(_table(snap))
    st.markdown(_verdict(snap, running))


def _table(snap: L2Snapshot) -> str:
    """Final (current) losses and per-layer weight norms, with the ratio to 'neither'."""
    layers = snap.weight_norm.shape[0]
    ratio = np.concatenate([np.ones((layers, 1)), shrinkage(snap)], axis=1)  # (layers, 4)
    head = [t("l2.table.model"), t("l2.table.test"), t("l2.table.train")] + \
           [t("l2.table.norm", layer=l + 1) for l in range(layers)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in range(len(MODELS)):
        norms = [f"{snap.weight_norm[l, m]:.2f} (×{ratio[l, m]:.2f})" for l in range(layers)]
        rows.append("| " + " | ".join([model_label(m, snap, translator(lang())), f"{snap.test_loss[m]:.3g}",
                                       f"{snap.train_loss[m]:.3g}", *norms]) + " |")
    return "\n".join(rows)


def _verdict(snap: L2Snapshot, running: bool) -> str:
    """What the numbers say: who generalises best, and how each method changed each layer's norm."""
    tr = translator(lang())
    when = t("l2.when_running" if running else "l2.when_done", it=f"{snap.iteration:,}")
    if not np.isfinite(snap.test_loss).all():
        return when + " " + t("l2.diverged")
    best = int(np.argmin(snap.test_loss))
    parts = [when, t("l2.best", model=model_label(best, snap, tr), loss=f"{snap.test_loss[best]:.3g}",
                     neither=f"{snap.test_loss[0]:.3g}")]
    ratios = shrinkage(snap)  # (layers, 3): dropout, l2, both
    for col, name in ((0, "dropout"), (1, "l2")):
        if name == "dropout" and snap.ps[1] == 0 or name == "l2" and snap.decays[2] == 0:
            continue
        r = ratios[:, col]
        most = int(np.argmax(np.abs(np.log(r))))  # the layer it changed the most, up or down
        parts.append(t(f"l2.shrink.{name}", lo=f"{r.min():.2f}", hi=f"{r.max():.2f}", layer=most + 1,
                       ratio=f"{r[most]:.2f}"))
    std = spread(snap)  # (layers, 4): width of each final weight distribution
    if len(std):
        hidden_layer = min(1, len(std) - 1)
        parts.append(t("l2.spread", layer=hidden_layer + 1, **{n: f"{std[hidden_layer, m]:.3f}" for m, n in enumerate(MODELS)}))
    return " ".join(parts)
