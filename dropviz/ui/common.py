"""What every page shares: the session's language, classroom flags, the runner and the viewer id."""

from __future__ import annotations

import threading
import uuid

import streamlit as st

from ..i18n import DEFAULT_LANG, LANGS, translate
from ..runner import Runner

# Classroom mode (TensorFlow Playground's *_hide idea): ?hide=epochs,advanced&big=1 gives a
# projector view with only the controls being taught.
HIDEABLE = ("preset", "p", "width", "epochs", "buttons", "advanced", "explain", "charts_extra", "language")


_runner: Runner | None = None
_runner_lock = threading.Lock()


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


def projector_css() -> None:
    """Larger type for a projector (?big=1)."""
    hidden("")
    if st.session_state.big:
        st.html("<style>html, .stMarkdown, .stSlider, label, p, li { font-size: 1.35rem !important; }"
                " h1 { font-size: 3rem !important; }</style>")
