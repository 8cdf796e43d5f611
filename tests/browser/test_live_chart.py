"""live_chart in a real browser: renders, updates in place, keeps the user's zoom."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

DEMO = Path(__file__).with_name("live_chart_demo.py")
CHART = '[data-testid="dropviz-live-chart"]'
LOSS = CHART + '[data-key="loss"]'  # isolate_styles=False: light DOM, no shadow root


def updates(page) -> int:
    return int(page.get_attribute(LOSS, "data-updates"))


def wait_for_updates(page, at_least: int, timeout_ms: int = 15_000) -> None:
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel)?.dataset.updates) >= n",
        arg=[LOSS, at_least], timeout=timeout_ms,
    )


def test_live_chart_updates_in_place_and_keeps_zoom(browser, streamlit_server):
    base_url = streamlit_server(DEMO)
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    plotly_js_requests: list[str] = []
    page.on("request", lambda r: plotly_js_requests.append(r.url) if r.url.endswith(".min.js") else None)
    try:
        page.goto(base_url)

        # (a) every chart on the page renders (plotly draws .main-svg layers)
        page.wait_for_selector(LOSS + " .main-svg", timeout=30_000)
        page.wait_for_function(
            "sel => [...document.querySelectorAll(sel)].filter(d => d.querySelector('.main-svg')).length === 4",
            arg=CHART, timeout=15_000,
        )
        assert page.get_attribute(LOSS, "data-traces") == "2"
        assert len(plotly_js_requests) == 1, plotly_js_requests  # plotly.js loaded once per page

        # (b) data-updates grows while the fragment streams data (run_every=0.25)
        page.evaluate("sel => { window.__lossDiv = document.querySelector(sel); }", LOSS)
        u0 = updates(page)
        time.sleep(2)
        u1 = updates(page)
        assert u1 - u0 >= 3, (u0, u1)

        # (c) zoom as a user would (relayout == drag-zoom), then let 3+ updates land
        page.evaluate("() => Plotly.relayout(window.__lossDiv, {'xaxis.range': [5, 15]})")
        u2 = updates(page)
        wait_for_updates(page, u2 + 3)
        x_range = page.evaluate("() => window.__lossDiv._fullLayout.xaxis.range")
        assert x_range == [5, 15], x_range
        # ...and the x data kept growing underneath the zoom
        n_points = page.evaluate("() => window.__lossDiv._fullData[0]._length")
        assert n_points > 15, n_points

        # (d) same DOM node all along: never remounted
        same = page.evaluate(
            "sel => document.querySelector(sel) === window.__lossDiv && window.__lossDiv.isConnected", LOSS
        )
        assert same
        assert not errors, errors
    finally:
        page.close()
