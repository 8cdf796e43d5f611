"""Tests of the lesson pages; what several of them share."""

import time

from streamlit.testing.v1 import AppTest


def open_page(script: str, query: dict[str, str] | None = None) -> AppTest:
    """Run a page's script (AppTest) once, opened with this link query."""
    at = AppTest.from_string(script, default_timeout=60)
    at.query_params.update(query or {})
    return at.run()


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
