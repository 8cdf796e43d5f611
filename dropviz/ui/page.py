"""The lab page: controls above the charts, the shared runner, live charts and a status line.

Follow a slider: controls.top_bar()/sidebar() store it in session_state, controls.read_config()
makes the LabConfig, runner.watch() starts (or joins) the background job that runs
train.run(config), and the charts show figures.*(runner.latest()). Each script run draws the charts
and the status line as they are now; then they stream their newer frames (the charts, and the status
line's iteration, progress and pace) from server.py's frames route, five a second, drawn by
live_chart.js. A fragment reruns only every few seconds (and when the run pauses or ends) for what
the numbers say. One path: AppTest, which has no web server and no browser, gets the same elements
and reads their first payloads; the browser tests (tests/browser/) cover the stream.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import streamlit as st

from ..config import LabConfig
from ..export import pytorch_script
from ..budget import budget_problem
from ..seeds import preset_sentence
from ..runner import Job, Queued, Runner
from ..train import Snapshot, final_metrics
from ..verdict import verdict_text
from . import controls, live_chart
from .common import big, fragment, get_runner, hidden, lang, refusal_text, run_error_text, t, viewer_id
from .lab_charts import CHARTS, chart_height, encoded_charts
from .frames_route import frames_url

__all__ = ["render", "get_runner"]

PAUSED_POLL = 3.0  # seconds between polls of a paused run: well inside the runner's lease
RERUNS_PER_SECOND = 25.0  # script reruns one server process serves in total; more and it stalls (load test)
# Seconds between reruns of the fragment while the charts stream: the status line's live part comes
# with every frame (live_chart.js), so the fragment is left only what the numbers say (the verdict,
# notes), and a run's end or pause reruns the page at once. Was 0.5 s: ~3.9 ms of server CPU per
# rerun, 0.3 of a core for a class of 40, to move an iteration counter.
STATUS_INTERVAL = 3.0
FIRST_FRAME_WAIT = 1.5  # seconds a page waits for a new run's first frame before it says "starting"
COLLAPSED = 0.05  # a prediction whose spread over x is below 5% of the targets' is a flat line


def render() -> None:
    notices = controls.load_url_once()
    st.title(t("lab.title"))
    pressed, link_slot = controls.top_bar()
    controls.sidebar()
    config = controls.read_config()
    controls.sync_url(config)
    _copy_link(link_slot, config)

    if notices:
        st.warning(t("lab.url_warning") + "\n\n- " + "\n- ".join(notices))
    if config.p >= 0.9:
        st.info(t("lab.high_p", p=f"{config.p:g}", keep=f"{1 - config.p:.0%}"))
    problem = budget_problem(config)
    if problem:
        st.error(refusal_text(problem))
        return

    runner, viewer = get_runner(), viewer_id()
    job = _act(runner, viewer, config, pressed)
    live = not job.finished and job.control.busy
    # Paused: poll slowly anyway, so the lease of the paused run does not run out.
    every = poll_interval(runner) if live else (PAUSED_POLL if not job.finished else None)
    fragment(_live_view, run_every=every)(config, live, every)
    _streamed_charts(runner, viewer, config, live)
    if not hidden("explain"):
        _explain(config)


def _copy_link(slot, config: LabConfig) -> None:
    """Copy link, in the top bar: the page's URL with these settings, to copy from its code box."""
    with slot.popover(t("lab.copy_link"), icon=":material/link:"):
        query = "&".join(f"{k}={v}" for k, v in controls.page_query(config).items())
        base = st.context.url.split("?")[0] if st.context.url else ""
        st.caption(t("lab.link_caption"))
        st.code(base + ("?" + query if query else ""), language=None, wrap_lines=True)


def _act(runner: Runner, viewer: str, config: LabConfig, pressed: str | None) -> Job:
    """Apply a button press; otherwise follow (or start) the run of these settings."""
    job = runner.watch(viewer, config, charts=_chart_keys())  # the run computes what these charts draw
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


def poll_interval(runner: Runner) -> float:
    """Seconds between reruns of the live fragment, slower when a class shares the server.

    One server process manages about RERUNS_PER_SECOND script reruns (measured with
    tests/load/load_test.py); past that, everyone's updates stall. The charts and the status
    line's counter stream (server.py), so the reruns only refresh the verdict, every STATUS_INTERVAL.
    """
    return max(STATUS_INTERVAL, runner.stats()["viewers"] / RERUNS_PER_SECOND)


def _live_view(config: LabConfig, live: bool, every: float | None = None) -> None:
    """The status line and what the numbers say; while `live` this reruns on a timer, and reruns
    the page once without it at the end."""
    runner, viewer = get_runner(), viewer_id()
    job = runner.watch(viewer, config, charts=_chart_keys())  # also renews the lease; restarts after an expired one
    snap = runner.latest(viewer)
    # A new run's first frame is a moment away (a worker makes it at once): wait for it here, or
    # the status line would only come with the next timed rerun, seconds later.
    deadline = time.monotonic() + FIRST_FRAME_WAIT
    while live and snap is None and not job.finished and time.monotonic() < deadline:
        time.sleep(0.02)
        snap = runner.latest(viewer)
    with st.container(key="dropviz-status-block"):  # one block whatever it holds, so the charts below never move
        if job.error:
            st.error(run_error_text(job.error) + " " + t("lab.error_hint"))
        if isinstance(snap, Queued):
            st.info(t("lab.queued", ahead=snap.ahead, seconds=f"{snap.seconds:.0f}"))
        elif snap is None:
            st.info(t("lab.starting"))
        else:
            _status(snap, job)
    if live and (job.finished or not job.control.busy):
        st.rerun(scope="app")  # the run stopped: redraw once without the timer
    if live and every and abs(poll_interval(runner) - every) > 0.5 * every:
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
    live_chart.stream(frames_url(viewer), frame.version, frame.final, _chart_keys(), lang(), big(),
                      on_ended=_run_ended)
    if isinstance(frame.shown, Snapshot) and not live:
        _downloads(frame.shown, config)


def _run_ended() -> None:
    """The stream saw the run's last frame: this rerun draws the page of a finished run."""


def status_texts(snap: Snapshot, job: Job, version: int | None = None) -> dict:
    """The status line, as live_chart.js draws it and moves it on with each frame: `head` takes the
    frame's {it} and {total}; then `pace` ({pace}: iterations per second the run is shown at) while
    it trains, or `paused_text` / `finished`; then `tail`, which changes only between reruns: the
    real training speed, the device, the watchers. `version`: the frame these numbers belong to."""
    paused = bool(job.control.paused and not job.finished)
    tail = ""
    task = getattr(job, "task", None)
    cpu = getattr(task, "cpu_seconds", 0.0) if task is not None else 0.0
    if cpu > 0.5 and snap.iteration:  # measured long enough to mean something
        tail += t("lab.speed", speed=_count(snap.iteration / cpu))
    tail += t("lab.device", device=snap.device)
    if not job.private:
        tail += t("lab.watched_by", n=len(job.viewers))
    return {"head": t("lab.status_head"), "pace": t("lab.pace"), "paused_text": t("lab.paused"),
            "finished": t("lab.finished"), "paused": paused, "tail": tail, "it": snap.iteration,
            "total": snap.total, "rate": snap.its_per_sec if np.isfinite(snap.its_per_sec) else 0.0,
            "run": snap.status, "version": version}


def _count(x: float) -> str:
    return f"{x:,.0f}"


def _status(snap: Snapshot, job: Job) -> None:
    frame = get_runner().frame(viewer_id())
    # drawn, and moved on with every streamed frame, by live_chart.js
    live_chart.status(status_texts(snap, job, frame.version if frame is not None else None))
    if snap.device_note:
        # devices.py's one note: CUDA asked for, the CPU used (anything else it may say, as it is)
        st.caption(t("lab.device_note") if job.config.device == "cuda" and snap.device == "cpu" else snap.device_note)
    if snap.status == "diverged" or snap.diverged.any():
        st.warning(divergence_text(snap, job.config.lr))
    elif snap.iteration:
        for note in collapse_notes(snap):
            st.warning(note)
        st.markdown(verdict_text(snap, t))  # over every seed of the run: so far, or the conclusion at the end


def divergence_text(snap: Snapshot, lr: float) -> str:
    """Which p diverged, each named once (the lab's seeds have it once per seed), in the page's
    language: train.py's snap.message says the same in English for the CLI and the logs."""
    ps = sorted({float(p) for p in snap.all_ps[snap.all_diverged]}) or [float(p) for p in snap.ps[snap.diverged]]
    key = "lab.diverged_one" if int(snap.all_diverged.sum()) <= 1 else "lab.diverged_many"
    return t(key, ps=t("lab.list_separator").join(f"{p:g}" for p in ps), it=f"{snap.iteration:,}", lr=f"{lr:g}")


def collapse_notes(snap: Snapshot) -> list[str]:
    """A model whose prediction is flat (its spread over x under COLLAPSED of the targets'), named.
    Not in 2-D: an untrained classifier's probability is flat at first, and its heatmap shows it."""
    if snap.data is None or snap.pred.size == 0 or snap.classification:
        return []
    target = float(np.std(snap.data.y_train))
    notes = []
    for m, p in enumerate(snap.ps):
        spread = float(np.std(snap.pred[m]))
        if np.isfinite(spread) and target > 0 and spread < COLLAPSED * target:
            notes.append(t("lab.collapsed", p=f"{float(p):g}", spread=f"{spread:.2g}", target=f"{target:.2g}"))
    return notes


def _chart_keys() -> list[str]:
    return list(CHARTS)[:2] if hidden("charts_extra") else list(CHARTS)


def _charts(shown: tuple[Snapshot, int | None] | None) -> None:
    """The charts of (snapshot, version), or empty ones (None)."""
    keys = _chart_keys()
    charts = encoded_charts(shown[0], lang(), shown[1], big()) if shown else \
        {key: live_chart.placeholder(key=key, height=chart_height(key, big())) for key in keys}
    for row in (keys[i:i + 2] for i in range(0, len(keys), 2)):  # two a row; a phone stacks them
        for col, key in zip(st.columns(len(row)) if len(row) > 1 else [st.container()], row):
            with col:
                live_chart.live_chart(charts[key], key=key, height=chart_height(key, big()))
        if "net_p" in row:
            st.caption(t("lab.net_caption"))


def _downloads(snap: Snapshot, config: LabConfig) -> None:
    h = snap.history
    table = {"iteration": h["iteration"]}
    for m, p in enumerate(snap.ps):
        table[f"train_loss_p{p:g}"] = h["train"][:, m]
        table[f"test_loss_p{p:g}"] = h["test"][:, m]
        for kind in ("train_acc", "test_acc"):  # a 2-D run's accuracies
            if kind in h:
                table[f"{kind.replace('acc', 'accuracy')}_p{p:g}"] = h[kind][:, m]
    csv = pd.DataFrame(table).to_csv(index=False)
    report = json.dumps({"settings": config.to_dict(), "metrics": final_metrics(snap)}, indent=2)
    row = st.container(horizontal=True, key="dropviz-downloads")
    row.download_button(t("lab.download_csv"), csv, "dropviz-loss.csv", "text/csv", icon=":material/download:")
    row.download_button(t("lab.download_json"), report, "dropviz-run.json", "application/json",
                        icon=":material/download:")
    row.download_button(t("lab.download_script"), pytorch_script(config), "dropviz_run.py", "text/x-python",
                        icon=":material/download:")
    st.caption(t("lab.png_hint"))


def _explain(config: LabConfig) -> None:
    """What dropout does, below the charts: the page's subtitle, what the preset shows over seeds
    (one seed never decides the lesson), then the formula."""
    st.markdown(t("lab.subtitle"))
    over_seeds = preset_sentence(st.session_state.get("w_preset", ""), t)
    if over_seeds:
        st.info(over_seeds)
    with st.expander(t("lab.explain_title"), expanded=True):
        st.markdown(t("lab.explain_body"))
