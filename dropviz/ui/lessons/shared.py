"""What the lesson pages that train with the lab's settings share: those settings, the warning
about a link's invalid values, the page's opening, and a live view of a job in the shared runner."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import streamlit as st

from ...config import LabConfig, Setting
from ...lessons.experiment import Experiment, Result
from ...runner import Queued
from .. import controls, urlstate
from ..common import big, fragment, get_runner, hidden, run_error_text, t, viewer_id

FRAME = 0.5  # seconds between redraws of a running lesson experiment


def lab_config(page: str) -> tuple[LabConfig, list[str]]:
    """The lab's current settings, and the notices of a link whose lab values had to be clamped.

    The lab page loads the link into its widgets once per session; a lesson page opened first
    does that load, so ?width=8 works here too, and keeps saying what it clamped on every run
    (as the lab does), not only on the first: a rerun at once (a finished experiment) hid it.
    """
    if "url_notices" not in st.session_state:
        st.session_state.url_notices_page = page
    notices = controls.load_url_once()
    return controls.read_config(), (notices if st.session_state.get("url_notices_page") == page else [])


def widget(where, s: Setting) -> None:
    """A lesson setting's widget, drawn from its declaration (range, step or stops, label and help keys:
    controls.setting_widget); its value under the page's key (declared with text=<page>)."""
    controls.setting_widget(where, s, urlstate.key(s.text, s.name))


def url_warning(page: str, changed: list[str], lab_notices: list[str] = ()) -> None:
    """One warning listing what the link's invalid values were changed to (the page's own settings,
    then the lab's), one sentence each, already in the page's language (urlstate.notice_text)."""
    notices = [*changed, *lab_notices]
    if notices:  # names="": some pages' sentence ends in {names}, from when it listed names only
        st.warning(t(f"{page}.url_warning", names="") + "\n\n- " + "\n- ".join(notices))


def opening(page: str, params: dict[str, Setting]) -> LabConfig:
    """A lesson page's start: its settings and the lab's from the link, its title, and one warning
    for the link's invalid values (the intro comes with the `lead`). Returns the lab's settings."""
    changed = urlstate.load(page, params)
    base, lab_notices = lab_config(page)
    st.title(t(f"{page}.title"))
    url_warning(page, changed, lab_notices)
    return base


@contextmanager
def lead(intro_text: str | None) -> Iterator[None]:
    """A lesson's intro (unless None), then what the page draws inside: its controls and first chart.
    On a phone and a projector the page's CSS (common.LAYOUT_CSS, BIG_CSS) moves the intro below
    the rest of this block, so the first chart is on the first screen; on a laptop it reads in order."""
    with st.container(key="dropviz-lead"):
        if intro_text is not None:
            intro(intro_text)
        yield


def intro(text: str) -> None:
    """A lesson's opening paragraph; on a projector (?big=1) folded under its title, so the first
    chart is on the first screen (the teacher tells it, or unfolds it)."""
    with st.container(key="dropviz-intro"):  # its place: see `lead`
        if big():
            with st.expander(t("app.intro"), expanded=False):
                st.markdown(text)
        else:
            st.markdown(text)


def settings_line(config: LabConfig) -> str:
    """The lab settings a lesson uses, in one line."""
    return t("sweep.lab_line", width=config.width, depth=config.depth, epochs=f"{config.epochs:,}",
             n_points=config.n_points, noise=f"{config.noise:g}", dataset=t(f"lab.options.dataset.{config.dataset}"),
             optimizer=t(f"lab.options.optimizer.{config.optimizer}"), lr=f"{config.lr:g}", seed=config.seed)


def computed(spec: Experiment) -> Any | None:
    """The result of a lesson's experiment, run by the server's scheduler like every run; None while
    it waits or runs (the page then says so, and redraws itself once the result is there)."""
    runner, viewer = get_runner(), viewer_id()
    job = runner.watch(viewer, spec)
    snap = runner.latest(viewer)
    if isinstance(snap, Result):
        return snap.value
    if job.error:
        st.error(run_error_text(job.error))
        return None
    fragment(_await, run_every=FRAME)(spec)
    return None


def _await(spec: Experiment) -> None:
    runner, viewer = get_runner(), viewer_id()
    job = runner.watch(viewer, spec)  # renews the lease
    snap = runner.latest(viewer)
    if job.finished:
        st.rerun(scope="app")  # the result (or the error) is there: draw the page with it
    elif isinstance(snap, Queued):
        st.info(t("app.queued", ahead=snap.ahead, seconds=f"{snap.seconds:.0f}"))
    else:
        st.info(t("app.computing"))


def live(spec: Any, draw: Callable[[Any, bool], None], page: str) -> None:
    """Watch `spec` in the shared runner and call draw(snapshot, live) on a timer until the job ends."""
    job = get_runner().watch(viewer_id(), spec)
    running = not job.finished
    fragment(_frame, run_every=FRAME if running else None)(spec, draw, page, running)


def _frame(spec: Any, draw: Callable[[Any, bool], None], page: str, running: bool) -> None:
    runner, viewer = get_runner(), viewer_id()
    job = runner.watch(viewer, spec)  # renews the lease; restarts a job the reaper ended
    snap = runner.latest(viewer)
    if job.error:
        st.error(run_error_text(job.error))
    if isinstance(snap, Queued):
        st.info(t(f"{page}.queued", ahead=snap.ahead, seconds=f"{snap.seconds:.0f}"))
    elif snap is None:
        st.info(t(f"{page}.starting"))
    else:
        st.progress(snap.iteration / max(snap.total, 1),
                    text=t(f"{page}.progress", it=f"{snap.iteration:,}", total=f"{snap.total:,}"))
        draw(snap, running)
    if running and job.finished:
        st.rerun(scope="app")  # the run ended: draw once more without the timer
