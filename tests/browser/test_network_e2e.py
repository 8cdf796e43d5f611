"""The network view in a real browser (issue 14): both networks drawn and following the run, at
width 1024 and depth 6 still readable on a projector, a laptop and a phone, in both languages,
and a hover (a tap on a phone) on a unit shows its output over x.

DROPVIZ_SCREENSHOTS=1 also saves the README's assets/lab_network.png (Classroom, paused after two Steps).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dropviz.i18n import LANGS
from tests.browser.viewports import VIEWPORTS, open_at
from dropviz.net_figure import SPARK

pytestmark = pytest.mark.browser

ASSETS = Path(__file__).resolve().parents[2] / "assets"
WIDE_DEEP = "width=1024&depth=6&n_points=10&epochs=2000&p=0.5&seed=5"  # within the server's budget
NET = '[data-testid="dropviz-live-chart"][data-key="{key}"]'

# The units of a network chart: the centres of the last trace's markers (the hover targets), in page pixels.
UNITS_JS = r"""(sel) => { const d = document.querySelector(sel);
  const traces = d.querySelectorAll('.scatterlayer .trace');
  return [...traces[traces.length - 1].querySelectorAll('.point')].map((p) => {
    const r = p.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }); }"""


def open_lab(browser, url: str, viewport: str):
    context, page, errors = open_at(browser, url, viewport)
    for key in ("net_p0", "net_p"):
        page.wait_for_function(f"() => document.querySelector('{NET.format(key=key)}')?.dataset.updates >= 1",
                               timeout=90_000, polling=100)
    return context, page, errors


def updates(page, key: str) -> int:
    return int(page.evaluate(f"() => document.querySelector('{NET.format(key=key)}').dataset.updates"))


@pytest.mark.parametrize("lang", list(LANGS))
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_wide_deep_network_reads_at_every_size_and_a_unit_shows_its_output(browser, lab_server, viewport, lang):
    big = "&big=1" if viewport == "projector" else ""
    context, page, errors = open_lab(browser, f"{lab_server.url}/?{WIDE_DEEP}&lang={lang}{big}", viewport)
    try:
        chart = page.locator(NET.format(key="net_p"))
        chart.scroll_into_view_if_needed()
        time.sleep(0.5)
        units = page.evaluate(UNITS_JS, NET.format(key="net_p"))
        assert len(units) == 2 + 6 * 10  # x, 10 of 1024 units in each of 6 layers, ŷ
        xs, ys = sorted({round(x) for x, _ in units}), sorted({round(y) for _, y in units})
        assert len(xs) == 8 and min(b - a for a, b in zip(xs, xs[1:])) >= 35, xs  # 8 columns apart
        column = sorted(y for x, y in units if round(x) == xs[1])
        assert len(column) == 10 and min(b - a for a, b in zip(column, column[1:])) >= 18, column  # rows apart
        box = chart.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS[viewport][0]
        # Hover (tap on a phone) the third unit of layer 2: its tooltip says which unit it is and draws its output.
        x, y = sorted((u for u in units if round(u[0]) == xs[2]), key=lambda u: u[1])[2]
        if viewport == "phone":
            page.touchscreen.tap(x, y)
        else:
            page.mouse.move(x, y)
        page.wait_for_selector(f"{NET.format(key='net_p')} .hoverlayer .hovertext", timeout=5_000)
        tip = page.locator(f"{NET.format(key='net_p')} .hoverlayer .hovertext").text_content()
        assert ("1024" in tip) and sum(c in SPARK for c in tip) == 20, tip
        assert not errors, errors
    finally:
        context.close()


# The dropout network's units as drawn now: True where the tooltip says dropped (the last trace's texts).
DROPPED_JS = r"""(sel) => { const d = document.querySelector(sel);
  return d.data[d.data.length - 1].hovertext.map((t) => t.includes('dropped')); }"""
STATUS_IT_JS = r"""() => { const t = document.querySelector('[data-testid="dropviz-status"]')?.innerText || '';
  const m = t.match(/^Iteration ([\d,]+)/); return m ? Number(m[1].replace(/,/g, '')) : null; }"""


def test_the_networks_follow_the_run_and_step_shows_the_next_sub_network(browser, lab_server):
    context, page, errors = open_lab(browser, f"{lab_server.url}/?preset=classroom", "laptop")
    try:
        before = updates(page, "net_p")
        time.sleep(2)
        assert updates(page, "net_p") > before  # redrawn as the run trains
        page.get_by_role("button", name="Pause", exact=True).click()
        page.wait_for_function("() => document.querySelector('[data-testid=\"dropviz-status\"]')"
                               "?.innerText.includes('paused')", timeout=20_000)
        time.sleep(2)  # the paused copy has replayed to where the run was
        seen = []
        for _ in range(2):
            it = page.evaluate(STATUS_IT_JS)
            page.get_by_role("button", name="Step", exact=True).click()
            page.wait_for_function(f"() => ({STATUS_IT_JS})() === {it + 1}", timeout=20_000)
            time.sleep(0.5)
            seen.append(page.evaluate(DROPPED_JS, NET.format(key="net_p")))
        assert seen[0] != seen[1] and any(seen[1]), seen  # the next step trained another sub-network
        assert not any(page.evaluate(DROPPED_JS, NET.format(key="net_p0")))  # p = 0: never a unit dropped
        assert not errors, errors
        if os.environ.get("DROPVIZ_SCREENSHOTS") == "1":
            page.locator(NET.format(key="net_p0")).evaluate("(e) => e.scrollIntoView({block: 'start'})")
            page.mouse.move(1340, 400)  # over the page's margin: no toolbar, no tooltip, and the wheel scrolls it
            page.mouse.wheel(0, -110)  # the titles out from under the page's header
            time.sleep(0.8)
            page.screenshot(path=str(ASSETS / "lab_network.png"))
    finally:
        context.close()
