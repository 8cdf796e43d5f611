"""Tests of the lesson pages; what several of them share."""

import time

from streamlit.testing.v1 import AppTest


COMPUTING = ("Computing this experiment", "Waiting to start")  # shared.computed() while the scheduler works


def open_page(script: str, query: dict[str, str] | None = None, timeout: float = 60) -> AppTest:
    """Run a page's script (AppTest), opened with this link query, until its experiment's result is
    drawn (pages that compute one on the server's scheduler say so until then)."""
    at = AppTest.from_string(script, default_timeout=60)
    at.query_params.update(query or {})
    return settle(at.run(), timeout)


def settle(at: AppTest, timeout: float = 60) -> AppTest:
    """Rerun the page until the experiment of its last run is drawn, not "computing" (after a control moved)."""
    deadline = time.monotonic() + timeout
    while any(m in i.value for i in at.info for m in COMPUTING):
        assert time.monotonic() < deadline, f"no result after {timeout} s"
        time.sleep(0.1)
        at.run()
    return at


def until_done(at: AppTest, marker: str, timeout: float = 40) -> str:
    """Rerun the page until a markdown containing `marker` appears (its run finished); its text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m.value for m in at.markdown if marker in m.value]
        if found:
            return found[0]
        time.sleep(0.5)
        at.run()
    raise AssertionError(f"no {marker!r} after {timeout} s")
