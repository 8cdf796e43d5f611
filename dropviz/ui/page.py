"""The lab page: sidebar settings → the shared runner → live charts, and a status in a timed fragment.

Follow a slider: controls.sidebar() stores it in session_state, controls.read_config() makes the
LabConfig, runner.watch() starts (or joins) the background job that runs train.run(config), and
the charts show figures.*(runner.latest()). Under `streamlit run app.py` the charts then stream
their newer frames from server.py's frames route, five a second, while the fragment reruns only
for the status line; elsewhere (AppTest) the fragment redraws the charts too.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from ..config import LabConfig
from ..export import pytorch_script
from ..budget import budget_problem
from ..runner import FRAME_INTERVAL, Job, Queued, Runner
from ..train import Snapshot, final_metrics
from . import assets, controls, live_chart
from .common import get_runner, hidden, lang, t, viewer_id
from .lab_charts import CHARTS, encoded_charts
from .server import frames_url

__all__ = ["render", "get_runner"]

PAUSED_POLL = 3.0  # seconds between polls of a paused run: well inside the runner's lease
RERUNS_PER_SECOND = 25.0  # script reruns one server process serves in total; more and it stalls (load test)
STATUS_INTERVAL = 0.5  # seconds between reruns for the status line alone, when the charts stream


def render() -> None:
    notices = controls.load_url_once()
    pressed = controls.sidebar()
    config = controls.read_config()
    controls.sync_url(config)

    st.title(t("lab.title"))
    st.markdown(t("lab.subtitle"))
    if notices:
        st.warning(t("lab.url_warning") + "\n\n- " + "\n- ".join(notices))
    if config.p >= 0.9:
        st.info(t("lab.high_p", p=f"{config.p:g}", keep=f"{1 - config.p:.0%}"))
    problem = budget_problem(config)
    if problem:
        st.error(problem)
        return

    runner, viewer = get_runner(), viewer_id()
    job = _act(runner, viewer, config, pressed)
    live = not job.finished and job.control.busy
    streaming = assets.served()
    # Paused: poll slowly anyway, so the lease of the paused run does not run out.
    every = poll_interval(runner, streaming) if live else (PAUSED_POLL if not job.finished else None)
    st.fragment(_live_view, run_every=every)(config, live, every, charts=not streaming)
    if streaming:
        _streamed_charts(runner, viewer, config, live)
    if not hidden("explain"):
        _explain_and_share(config)


def _act(runner: Runner, viewer: str, config: LabConfig, pressed: str | None) -> Job:
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


def poll_interval(runner: Runner, streaming: bool = False) -> float:
    """Seconds between reruns of the live fragment, slower when a class shares the server.

    One server process manages about RERUNS_PER_SECOND script reruns (measured with
    tests/load/load_test.py); past that, everyone's updates stall. Without the chart stream
    every chart frame is such a rerun, five a second; with it (server.py) the reruns only move
    the status line, twice a second: a rerun costs the server ~10 ms, a streamed frame ~1 ms.
    """
    return max(STATUS_INTERVAL if streaming else FRAME_INTERVAL, runner.stats()["viewers"] / RERUNS_PER_SECOND)


def _live_view(config: LabConfig, live: bool, every: float | None = None, charts: bool = True) -> None:
    """Status (and charts, unless they stream); while `live` this reruns on a timer, and redraws
    once without it at the end."""
    runner, viewer = get_runner(), viewer_id()
    job = runner.watch(viewer, config)  # also renews the lease; restarts after an expired one
    snap = runner.latest(viewer)
    with st.container():  # one block whatever it holds, so the charts below never move or remount
        if job.error:
            st.error(job.error + " " + t("lab.error_hint"))
        if isinstance(snap, Queued):
            st.info(t("lab.queued", ahead=snap.ahead, seconds=f"{snap.seconds:.0f}"))
        elif snap is None:
            st.info(t("lab.starting"))
        else:
            _status(snap, job)
    if charts and (shown := _shown(snap, None)) is not None:
        _charts(shown)
    if charts and isinstance(snap, Snapshot) and not live:
        _downloads(snap, config)
    if live and (job.finished or not job.control.busy):
        st.rerun(scope="app")  # the run stopped: redraw once without the timer
    if live and every and abs(poll_interval(runner, not charts) - every) > 0.5 * every:
        st.rerun(scope="app")  # the class grew or shrank: start the timer again at the new pace


def _shown(snap: Snapshot | Queued | None, version: int | None) -> tuple[Snapshot, int | None] | None:
    """What the charts show: this snapshot, or until a new run's first one, the last one shown
    (None before any)."""
    if isinstance(snap, Snapshot):
        st.session_state.lab_shown = (snap, version)
    return st.session_state.get("lab_shown")


def _streamed_charts(runner: Runner, viewer: str, config: LabConfig, live: bool) -> None:
    """The charts as they are now, then the stream of their newer frames (server.py)."""
    frame = runner.frame(viewer)
    if frame is None:
        return
    # Before the first snapshot, empty charts: the stream fills them without waiting for a rerun.
    _charts(_shown(frame.shown, frame.version))
    live_chart.stream(frames_url(viewer), frame.version, frame.final, _chart_keys(), lang())
    if isinstance(frame.shown, Snapshot) and not live:
        _downloads(frame.shown, config)


def _status(snap: Snapshot, job: Job) -> None:
    line = t("lab.status", it=f"{snap.iteration:,}", total=f"{snap.total:,}", rate=f"{snap.its_per_sec:,.0f}",
             device=snap.device)
    if not job.private:
        line += t("lab.watched_by", n=len(job.viewers))
    if job.control.paused and not job.finished:
        line += t("lab.paused")
    st.markdown(line)
    st.progress(snap.iteration / snap.total)
    if snap.device_note:
        st.caption(snap.device_note)
    if snap.status == "diverged" or snap.diverged.any():
        st.warning(snap.message)
    elif snap.iteration:
        st.markdown(verdict(snap))


def verdict(snap: Snapshot) -> str:
    """Current (or final) numbers of both models, and which generalises better, in plain words."""
    (tr0, tr1), (te0, te1) = snap.train_loss, snap.test_loss
    p = f"{snap.ps[1]:g}"
    numbers = t("lab.numbers", when=t("lab.final" if snap.status == "done" else "lab.now"),
                tr0=f"{tr0:.3g}", tr1=f"{tr1:.3g}", te0=f"{te0:.3g}", te1=f"{te1:.3g}", p=p)
    if abs(te0 - te1) <= 0.02 * max(te0, te1):
        return numbers + " " + t("lab.tie")
    dropout, baseline = t("lab.dropout_model", p=p), t("lab.baseline_model")
    better, worse = (dropout, baseline) if te1 < te0 else (baseline, dropout)
    gap = f"{abs(te0 - te1) / max(te0, te1):.0%}"
    return numbers + " " + t("lab.better", better=better, worse=worse, gap=gap)


def _chart_keys() -> list[str]:
    return list(CHARTS)[:2] if hidden("charts_extra") else list(CHARTS)


def _charts(shown: tuple[Snapshot, int | None] | None) -> None:
    """The charts of (snapshot, version), or empty ones (None)."""
    keys = _chart_keys()
    charts = encoded_charts(shown[0], lang(), shown[1]) if shown else \
        {key: live_chart.placeholder(key=key, height=CHARTS[key][1]) for key in keys}
    for row in (keys[0:2], keys[2:4], keys[4:]):
        for col, key in zip(st.columns(len(row)) if len(row) > 1 else [st.container()], row):
            with col:
                live_chart.live_chart(charts[key], key=key, height=CHARTS[key][1])


def _downloads(snap: Snapshot, config: LabConfig) -> None:
    h = snap.history
    table = {"iteration": h["iteration"]}
    for m, p in enumerate(snap.ps):
        table[f"train_loss_p{p:g}"] = h["train"][:, m]
        table[f"test_loss_p{p:g}"] = h["test"][:, m]
    csv = pd.DataFrame(table).to_csv(index=False)
    report = json.dumps({"settings": config.to_dict(), "metrics": final_metrics(snap)}, indent=2)
    a, b, c, d = st.columns([1, 1, 1, 2])
    a.download_button(t("lab.download_csv"), csv, "dropviz-loss.csv", "text/csv")
    b.download_button(t("lab.download_json"), report, "dropviz-run.json", "application/json")
    c.download_button(t("lab.download_script"), pytorch_script(config), "dropviz_run.py", "text/x-python")
    d.caption(t("lab.png_hint"))


def _explain_and_share(config: LabConfig) -> None:
    left, right = st.columns([3, 2])
    with left.expander(t("lab.explain_title"), expanded=True):
        st.markdown(t("lab.explain_body"))
    with right.popover(t("lab.copy_link"), use_container_width=True):
        query = "&".join(f"{k}={v}" for k, v in controls.page_query(config).items())
        base = st.context.url.split("?")[0] if st.context.url else ""
        st.caption(t("lab.link_caption"))
        st.code(base + ("?" + query if query else ""), language=None)
