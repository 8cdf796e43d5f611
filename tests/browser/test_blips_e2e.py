"""Network blips and server restarts, in a real headless Chromium against `streamlit run app.py`.

A blip: the page's websocket closes and Streamlit's frontend reconnects within a second, resending
its session id; the viewer's run must go on where it was (issue 11, point 5), paused or not.
A restart: the server process is replaced by a new one on the same port; the open tab's charts
must follow the new process's run again, without a reload.
"""

from __future__ import annotations

import time

import pytest

from tests.browser.test_lab_e2e import ALL_DRAWN_JS, KEYS, LOSS_JS, SMALL, STATUS_JS, Lab
from tests.streamlit_server import REPO_ROOT, StreamlitServer

pytestmark = pytest.mark.browser

# Keep every WebSocket the page opens in window.__sockets, so a test can close Streamlit's.
RECORD_SOCKETS_JS = """(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();"""
STREAMS_JS = "() => window.__sockets.filter((s) => s.url.includes('_stcore/stream'))"
# Record the status line's iteration every 20 ms from now on, so a short-lived low one is seen too.
RECORD_ITERATIONS_JS = """(js) => { window.__its = []; window.__paused = [];
  setInterval(() => { const s = eval(js)(); if (s) { window.__its.push(s.it);
                                                     window.__paused.push(s.text.includes('paused')); } }, 20); }"""


def open_page(browser, url: str, query: str) -> Lab:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    lab = Lab(page)
    page.on("pageerror", lambda e: lab.errors.append(f"pageerror: {e}"))
    page.add_init_script(RECORD_SOCKETS_JS)
    page.goto(f"{url}/?{query}")
    try:
        lab.wait(ALL_DRAWN_JS, arg=list(KEYS), timeout_s=45)
    except Exception as exc:
        raise AssertionError(f"charts not drawn: {lab.describe()}") from exc
    return lab


def blip(lab: Lab) -> None:
    """Close the page's Streamlit websocket and wait until the frontend has reconnected."""
    assert lab.page.evaluate(f"() => ({STREAMS_JS})().length") == 1
    lab.page.evaluate(f"() => ({STREAMS_JS})()[0].close()")
    lab.wait(f"() => {{ const s = ({STREAMS_JS})(); return s.length === 2 && s[1].readyState === 1; }}", timeout_s=15)


@pytest.fixture
def lab_page(browser, lab_server):
    pages = []

    def open_(query: str) -> Lab:
        pages.append(open_page(browser, lab_server.url, query))
        return pages[-1]

    yield open_
    for lab in pages:
        lab.page.close()


def test_a_blip_keeps_a_running_run(lab_page):
    lab = lab_page(f"{SMALL}&seed=41")
    lab.wait_iteration(150)
    before = lab.status()["it"]
    lab.page.evaluate(RECORD_ITERATIONS_JS, STATUS_JS)
    blip(lab)
    time.sleep(1.0)  # the reconnected session's rerun redraws the status line
    lab.wait_iteration(before + 100)  # training goes on ...
    its = lab.page.evaluate("() => window.__its")
    assert min(its) >= before, f"the run started over: {before} before the blip, then {min(its)}"  # ... not anew
    lab.assert_clean()


def test_a_blip_keeps_a_paused_run_paused(lab_page):
    lab = lab_page(f"{SMALL}&seed=42")
    lab.wait_iteration(100)
    lab.page.get_by_role("button", name="Pause", exact=True).click()
    lab.wait(f"() => ({STATUS_JS})()?.text.includes('paused')")
    paused = lab.wait_still(quiet_s=1.0)
    lab.page.evaluate(RECORD_ITERATIONS_JS, STATUS_JS)
    blip(lab)
    time.sleep(3.0)  # a rerun after the reconnect, and a few status polls of a paused run
    its, flags = lab.page.evaluate("() => [window.__its, window.__paused]")
    assert set(its) == {paused["it"]} and all(flags), (paused, sorted(set(its)), set(flags), lab.describe())
    assert lab.status()["it"] == paused["it"] and "paused" in lab.status()["text"]
    lab.assert_clean()


def test_open_tab_follows_a_restarted_server(browser):
    """The tab's charts showed a run of a later job number than the new process's first ones: they
    follow the new process anyway, without a reload."""
    first = StreamlitServer(REPO_ROOT / "app.py")
    second = None
    page = None
    try:
        first.wait_healthy()
        lab = open_page(browser, first.url, f"{SMALL}&seed=43")
        page = lab.page
        lab.page.evaluate("() => { window.__same_page = true; }")
        p = lab.slider("Drop probability p")  # a second run: its frame versions are above anything
        p.focus()                              # the new process's first run has for a long while
        p.press("ArrowRight")
        lab.wait("() => location.search.includes('p=0.51')")
        lab.wait(f"() => ({LOSS_JS})()?.last >= 100")
        shown = lab.loss()  # before the restart: the page may follow the new process at once after it
        first.stop()
        second = StreamlitServer(REPO_ROOT / "app.py", port=first.port)
        second.wait_healthy()
        # the new process starts the run afresh: the charts show it from a low iteration, then climbing
        try:
            lab.wait(f"() => ({LOSS_JS})()?.last < {shown['last']}", timeout_s=60)
            low = lab.loss()["last"]
            # The new process's workers start (torch imported) before the run climbs: seconds on a busy machine.
            lab.wait(f"() => ({LOSS_JS})()?.last >= {low + 100}", timeout_s=45)
        except Exception as exc:
            raise AssertionError(f"the charts froze after the restart: {shown} → {lab.describe()}") from exc
        assert lab.page.evaluate("() => window.__same_page === true")  # no reload
        assert "p=0.51" in lab.page.url
    finally:
        if page is not None:
            page.close()
        for server in (second, first):
            if server is not None:
                server.stop()
