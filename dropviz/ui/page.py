"""The lab page: sidebar settings → the shared runner → live charts in a timed fragment.

Follow a slider: controls.sidebar() stores it in session_state, controls.read_config() makes the
LabConfig, runner.watch() starts (or joins) the background job that runs train.run(config),
and live_view() draws figures.*(runner.latest()) several times a second.
"""

from __future__ import annotations

import json
import uuid

import pandas as pd
import streamlit as st

from .. import figures
from ..config import LabConfig, to_query
from ..runner import FRAME_INTERVAL, Queued, Runner, budget_problem
from ..train import Snapshot, final_metrics
from . import controls, text
from .live_chart import live_chart


FRAME_SECONDS = FRAME_INTERVAL  # the page polls as often as a live run makes frames


@st.cache_resource
def get_runner() -> Runner:
    """One runner for the whole server process: every session's jobs, shared where they can be."""
    return Runner()


@st.cache_resource(scope="session", on_release=lambda viewer: get_runner().leave(viewer))
def viewer_id() -> str:
    """This browser session's name in the runner; releasing the session stops its job."""
    return uuid.uuid4().hex


def main() -> None:
    notices = controls.load_url_once()
    pressed = controls.sidebar()
    config = controls.read_config()
    controls.sync_url(config)

    st.title(text.TITLE)
    st.markdown(text.SUBTITLE)
    if notices:
        st.warning("Some settings in the link were not valid and were changed:\n\n- " + "\n- ".join(notices))
    if config.p >= 0.9:
        st.info(f"With p = {config.p:g} the dropout model keeps only {1 - config.p:.0%} of its units in each "
                "training step: expect it to learn slowly and underfit.")
    problem = budget_problem(config)
    if problem:
        st.error(problem)
        return

    runner, viewer = get_runner(), viewer_id()
    job = _act(runner, viewer, config, pressed)
    live_view(config, live=not job.finished and job.control.busy)
    _explain_and_share(config)


def _act(runner: Runner, viewer: str, config: LabConfig, pressed: str | None):
    """Apply a button press; otherwise follow (or start) the run of these settings."""
    job = runner.watch(viewer, config)
    if pressed == "pause":
        runner.make_private(viewer, config).control.pause()
    elif pressed == "step":
        runner.make_private(viewer, config).control.step(1)
    elif pressed == "reset":
        runner.make_private(viewer, config, from_start=True, hold=True)
    elif pressed == "train":
        if job.finished or job.error:  # train again from scratch, privately
            runner.make_private(viewer, config, from_start=True)
        else:
            job.control.resume()
    return runner.job_of(viewer)


def live_view(config: LabConfig, live: bool) -> None:
    """Status and charts in a fragment that reruns on a timer while the run is live, and not after."""
    st.fragment(_live_view, run_every=FRAME_SECONDS if live else None)(config, live)


def _live_view(config: LabConfig, live: bool) -> None:
    runner, viewer = get_runner(), viewer_id()
    job = runner.watch(viewer, config)  # also renews the lease; restarts after an expired one
    snap = runner.latest(viewer)
    if job.error:
        st.error(job.error + " Change a setting or press Reset to try again.")
    if isinstance(snap, Queued):
        st.info(f"Queued: {snap.ahead} run(s) ahead of yours. The server trains a few at a time.")
    elif snap is None:
        st.info("Starting…")
    else:
        _status(snap, job)
        _charts(snap)
        if not live:
            _downloads(snap, config)
    if live and (job.finished or not job.control.busy):
        st.rerun(scope="app")  # the run stopped: redraw once without the timer


def _status(snap: Snapshot, job) -> None:
    shared = "" if job.private else f" · watched by {len(job.viewers)}"
    st.markdown(f"**Iteration {snap.iteration:,} / {snap.total:,}** · {snap.its_per_sec:,.0f} iterations/s · "
                f"device: {snap.device}{shared}" + (" · paused" if job.control.paused and not job.finished else ""))
    st.progress(snap.iteration / snap.total)
    if snap.device_note:
        st.caption(snap.device_note)
    if snap.status == "diverged" or snap.diverged.any():
        st.warning(snap.message)
    elif snap.iteration:
        st.markdown(_verdict(snap))


def _verdict(snap: Snapshot) -> str:
    """Final (or current) numbers for both models, and which generalises better, in plain words."""
    (tr0, tr1), (te0, te1) = snap.train_loss, snap.test_loss
    p = snap.ps[1]
    when = "Final" if snap.status == "done" else "Now"
    numbers = (f"{when}: train loss {tr0:.3g} (p = 0) vs {tr1:.3g} (p = {p:g}); "
               f"test loss {te0:.3g} (p = 0) vs {te1:.3g} (p = {p:g}).")
    if abs(te0 - te1) <= 0.02 * max(te0, te1):
        return numbers + " **Both generalise about equally well** (test losses within 2%)."
    better, worse = (f"dropout model (p = {p:g})", "p = 0 model") if te1 < te0 else ("p = 0 model", f"dropout model (p = {p:g})")
    gap = abs(te0 - te1) / max(te0, te1)
    return numbers + f" **The {better} generalises better**: {gap:.0%} lower test loss than the {worse}."


def _charts(snap: Snapshot) -> None:
    left, right = st.columns(2)
    with left:
        live_chart(figures.fit_figure(snap), key="fit")
    with right:
        live_chart(figures.loss_figure(snap), key="loss")
    left, right = st.columns(2)
    with left:
        live_chart(figures.masks_figure(snap), key="masks")
    with right:
        live_chart(figures.weight_norm_figure(snap), key="norms")
    live_chart(figures.weight_hist_figure(snap), key="hist", height=260)


def _downloads(snap: Snapshot, config: LabConfig) -> None:
    h = snap.history
    table = {"iteration": h["iteration"]}
    for m, p in enumerate(snap.ps):
        table[f"train_loss_p{p:g}"] = h["train"][:, m]
        table[f"test_loss_p{p:g}"] = h["test"][:, m]
    csv = pd.DataFrame(table).to_csv(index=False)
    report = json.dumps({"settings": config.to_dict(), "metrics": final_metrics(snap)}, indent=2)
    a, b, c = st.columns([1, 1, 2])
    a.download_button("Loss history (CSV)", csv, "dropviz-loss.csv", "text/csv")
    b.download_button("Settings and metrics (JSON)", report, "dropviz-run.json", "application/json")
    c.caption("Each chart's camera icon (top right, on hover) saves it as a PNG.")


def _explain_and_share(config: LabConfig) -> None:
    left, right = st.columns([3, 2])
    with left.expander(text.EXPLAIN_TITLE, expanded=True):
        st.markdown(text.EXPLAIN_BODY)
    with right.popover("Copy link", use_container_width=True):
        query = "&".join(f"{k}={v}" for k, v in to_query(config).items())
        base = st.context.url.split("?")[0] if st.context.url else ""
        st.caption("This link opens the page with exactly these settings:")
        st.code(base + ("?" + query if query else ""), language=None)
