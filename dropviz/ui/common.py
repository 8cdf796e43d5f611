"""What every page shares: the session's language, classroom flags, the runner and the viewer id."""

from __future__ import annotations

import functools
import logging
import re
import threading
import uuid
from typing import Callable

import streamlit as st

from ..budget import Refusal
from ..i18n import DEFAULT_LANG, LANGS, translate
from ..runner import FAILED_MESSAGE, FULL_MESSAGE, Runner

# Classroom mode (TensorFlow Playground's *_hide idea): ?hide=epochs,advanced&big=1 gives a
# projector view with only the controls being taught.
HIDEABLE = ("preset", "p", "width", "epochs", "buttons", "advanced", "explain", "charts_extra", "language")


_runner: Runner | None = None
_runner_lock = threading.Lock()


log = logging.getLogger("dropviz")


def shielded(body: Callable[..., None], what: str) -> Callable[..., None]:
    """`body`, made safe to show: an exception it raises is logged with its traceback (as "`what`
    failed") and the student sees one sentence in its place (app.page_error), not a traceback.
    Every page is shielded (app._guarded), and every fragment (`fragment`)."""
    @functools.wraps(body)  # keeps body's name: Streamlit tells pages and fragments apart by it
    def shielded_body(*args, **kwargs) -> None:
        try:
            body(*args, **kwargs)
        except Exception:  # st.rerun / st.stop are BaseExceptions and pass through
            log.exception("dropviz: %s failed", what)
            st.error(t("app.page_error"))
    return shielded_body


def fragment(body, run_every: float | None = None):
    """st.fragment(body, run_every=…), shielded: a timed rerun runs outside the page's own shield,
    so a failure there would otherwise show the student Streamlit's error box."""
    return st.fragment(shielded(body, f"the fragment {body.__qualname__}"), run_every=run_every)


def get_runner() -> Runner:
    """One runner for the whole server process: every session's jobs, shared where they can be.

    A plain process-wide object, not st.cache_resource: server.py's frames route uses it too,
    from the web server's event loop, outside any script run.
    """
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = Runner()
        return _runner


def reset_runner() -> None:
    """Stop the runner's jobs and start afresh with the next get_runner() (tests)."""
    global _runner
    with _runner_lock:
        runner, _runner = _runner, None
    if runner is not None:
        runner.shutdown()


def viewer_id() -> str:
    """This browser session's name in the runner, kept in its session state.

    Not a session-scoped st.cache_resource: Streamlit 1.67 clears those on every disconnect, so a
    websocket blip released the id and the reconnected page started its run over (a paused one as
    a new running one). Session state lives as long as the session: across a reconnect (the
    frontend resends its session id, and Streamlit keeps a disconnected session for
    server.disconnectedSessionTTL) and across pages. A tab that does not come back stops polling,
    and the runner's lease lets its run go (Runner.lease_seconds).
    """
    if "dropviz_viewer" not in st.session_state:
        st.session_state.dropviz_viewer = uuid.uuid4().hex
    return st.session_state.dropviz_viewer


def lang() -> str:
    """The session's language: from ?lang= on its first run, then from the sidebar."""
    if "lang" not in st.session_state:
        wanted = st.query_params.get("lang", DEFAULT_LANG)
        st.session_state.lang = wanted if wanted in LANGS else DEFAULT_LANG
    return st.session_state.lang


def t(key: str, **fields) -> str:
    """The text of `key` in the session's language."""
    return translate(key, lang(), **fields)


def refusal_text(refusal: Refusal) -> str:
    """A budget refusal (dropviz/budget.py) in the session's language."""
    return t(f"budget.{refusal.key}", **refusal.fields)


# The runner's sentences for a run that failed or was refused (runner.py, in English: logs and
# tests read them), matched here, their fields included, to the page's text of the same meaning.
RUN_ERRORS = {FAILED_MESSAGE: "app.run_failed", FULL_MESSAGE: "app.server_full"}


def _template_pattern(template: str) -> re.Pattern:
    """'{waiting} runs' → r'(?P<waiting>.+?) runs', the rest literal."""
    parts = re.split(r"\{(\w+)\}", template)
    return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts))
                      + r"\Z", re.S)


def run_error_text(error: str) -> str:
    """A job's error (runner.Job.error) in the session's language; an unknown one as it is."""
    for template, key in RUN_ERRORS.items():
        if found := _template_pattern(template).match(error):
            return t(key, **found.groupdict())
    return error


def language_picker() -> None:
    if hidden("language"):
        return
    st.sidebar.selectbox(t("app.language"), list(LANGS), format_func=LANGS.get, key="lang",
                         help=t("app.language_help"))


def hidden(control: str) -> bool:
    """True when the link hides this control (?hide=a,b)."""
    if "hide" not in st.session_state:
        raw = ",".join(st.query_params.get_all("hide"))
        st.session_state.hide = sorted({h.strip() for h in raw.split(",")} & set(HIDEABLE))
        st.session_state.big = st.query_params.get("big", "") in ("1", "true", "yes")
    return control in st.session_state.hide


def classroom_query() -> dict[str, str]:
    """The language and classroom flags, to keep in every page's URL."""
    hidden("")  # make sure the flags were read
    out = {} if lang() == DEFAULT_LANG else {"lang": lang()}
    if st.session_state.hide:
        out["hide"] = ",".join(st.session_state.hide)
    if st.session_state.big:
        out["big"] = "1"
    return out


# Layout for a class: charts on the first screen of a 1280×720 projector and a 1366×768 laptop, and
# on a phone p in a bar that stays at the top (sticky) above the fit. A lesson's intro moves below its
# controls and first chart on a phone (and on a projector, where it is folded: BIG_CSS), so that chart
# is on the first screen (lessons.shared.lead). Selectors are Streamlit 1.67's test ids and the
# `st-key-<key>` classes of our keyed containers; checked by tests/browser/test_layout_e2e.py.
LAYOUT_CSS = """
[data-testid="stMainBlockContainer"] { padding-top: 4rem; padding-bottom: 3rem; }  /* the header is 3.75rem */
h1 { font-size: 2rem !important; padding: 0 0 0.25rem !important; }
[data-testid="stSidebarNav"] a span { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }
[data-testid="stSidebarNav"] a { height: auto !important; min-height: 2rem; }
.st-key-dropviz-buttons button p, .st-key-dropviz-downloads button p { white-space: nowrap; }
.st-key-dropviz-buttons { row-gap: 0.4rem; }
.katex-display { overflow-x: auto; overflow-y: hidden; padding: 0.2rem 0; }
@media (max-width: 640px) {
  h1 { font-size: 1.4rem !important; }
  [data-testid="stMainBlockContainer"] { padding: 3.5rem 0.75rem 3rem; }
  .st-key-dropviz-controls { position: sticky; top: 3.5rem; z-index: 99; padding: 0.25rem 0 0.4rem;
    background: var(--dropviz-bg, #fff); box-shadow: 0 6px 6px -6px rgba(0, 0, 0, 0.25); }
  .st-key-dropviz-controls [data-testid="stHorizontalBlock"] { gap: 0.25rem; }
  .st-key-dropviz-buttons button { padding: 0.25rem 0.6rem; min-height: 2.25rem; }
  .st-key-dropviz-lead > .st-key-dropviz-intro, .st-key-dropviz-lead > :has(.st-key-dropviz-intro) { order: 1; }
}
"""
# ?big=1: everything measured in rem grows by a quarter (Streamlit sizes its text and spacing in rem;
# the charts get their own big fonts, lab_charts/figures big=True). Slider values sit above their
# thumbs' tick labels, not on them.
BIG_CSS = """
html { font-size: 20px !important; }
h1 { font-size: 1.5rem !important; }
[data-testid="stMainBlockContainer"] { padding-left: 2rem; padding-right: 2rem; }
[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] { gap: 0.6rem; }
[data-testid="stSidebar"][aria-expanded="true"] { min-width: 340px !important; max-width: 340px !important; }
[data-testid="stSliderThumbValue"] { top: -1.6em !important; }
[data-testid="stSlider"] { padding-top: 0.35rem; }
.st-key-dropviz-lead > .st-key-dropviz-intro, .st-key-dropviz-lead > :has(.st-key-dropviz-intro) { order: 1; }
"""


def page_css() -> str:
    """The page's CSS: the layout, and the projector's larger type when the link says ?big=1."""
    return LAYOUT_CSS + (BIG_CSS if big() else "")


def big() -> bool:
    """The projector view (?big=1): larger type and taller charts."""
    hidden("")
    return bool(st.session_state.big)


def projector_css() -> None:
    """The page's CSS as the run's first element, the same on every run (so a rerun never draws the
    page without it); live_chart.preload_plotly also puts it in the document's head, where no rerun
    can remove it."""
    st.html(f"<style>{page_css()}</style>")
