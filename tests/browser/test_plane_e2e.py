"""A 2-D classification run in a real browser (issue 14): the two decision boundaries side by side
on the first screen at a projector's, a laptop's and a phone's size in both languages, accuracy
beside the loss, the networks drawn with images, and a hover (a tap) on a boundary reads the
probability there.

DROPVIZ_SCREENSHOTS=1 also saves the README's assets/lab_2d.png (laptop) and lab_2d_phone.png: the
2-D boundary preset, run to its end.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dropviz.i18n import LANGS
from tests.browser.viewports import VIEWPORTS, open_at

pytestmark = pytest.mark.browser

ASSETS = Path(__file__).resolve().parents[2] / "assets"
PLANE = "dataset=spiral&n_points=200&noise=0.2&width=32&depth=3&epochs=3000&p=0.3&seed=2"
CHART = '[data-testid="dropviz-live-chart"][data-key="{key}"]'

# Per chart key: its box on the page and how many traces of each type Plotly drew.
DRAWN_JS = r"""(key) => { const d = document.querySelector(`[data-testid="dropviz-live-chart"][data-key="${key}"]`);
  if (!d || !d._fullData) return null;
  const r = d.getBoundingClientRect(), types = {};
  d._fullData.forEach((tr) => { types[tr.type] = (types[tr.type] || 0) + 1; });
  return { top: r.top, bottom: r.bottom, left: r.left, right: r.right, types,
           y2: d._fullLayout.yaxis2 ? d._fullLayout.yaxis2.tickformat : null }; }"""


def open_plane(browser, url: str, viewport: str):
    context, page, errors = open_at(browser, url, viewport)
    for key in ("fit", "loss", "net_p"):
        page.wait_for_function(f"() => document.querySelector('{CHART.format(key=key)}')?.dataset.updates >= 1",
                               timeout=90_000, polling=100)
    time.sleep(1)
    return context, page, errors


@pytest.mark.parametrize("lang", list(LANGS))
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_boundaries_are_on_the_first_screen_and_read_the_probability(browser, lab_server, viewport, lang):
    big = "&big=1" if viewport == "projector" else ""
    context, page, errors = open_plane(browser, f"{lab_server.url}/?{PLANE}&lang={lang}{big}", viewport)
    try:
        width, height = VIEWPORTS[viewport]
        fit, loss, net = (page.evaluate(DRAWN_JS, key) for key in ("fit", "loss", "net_p"))
        assert fit["types"].get("heatmap") == 2, fit  # the two models' boundaries
        # Both boundaries whole on the first screen: their plot areas (the x axis' labels may run below).
        for area in page.locator(CHART.format(key="fit") + " .nsewdrag").all():
            box = area.bounding_box()
            assert 0 <= box["y"] and box["y"] + box["height"] <= height and box["x"] + box["width"] <= width, box
        assert loss["y2"] == ".0%", loss  # accuracy beside the loss
        assert net["types"].get("heatmap") == 2 + 3, net  # every column of the network draws images
        assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
        box = page.locator(CHART.format(key="fit") + " .nsewdrag").first.bounding_box()  # the first panel
        x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
        if viewport == "phone":
            page.touchscreen.tap(x, y)
        else:
            page.mouse.move(x, y)
        page.wait_for_selector(CHART.format(key="fit") + " .hoverlayer .hovertext", timeout=5_000)
        tip = page.locator(CHART.format(key="fit") + " .hoverlayer .hovertext").first.text_content()
        assert "P(" in tip and "x₁" in tip, tip
        assert not errors, errors
        if os.environ.get("DROPVIZ_SCREENSHOTS") == "1" and lang == "en" and viewport in ("laptop", "phone"):
            page.mouse.move(width - 5, height // 2)
            page.goto(f"{lab_server.url}/?preset=boundary&lang=en")  # the README's: the preset, run to its end
            page.wait_for_function("() => document.querySelector('[data-testid=\"dropviz-status\"]')"
                                   "?.innerText.includes('finished')", timeout=60_000)
            time.sleep(2)
            page.screenshot(path=str(ASSETS / ("lab_2d.png" if viewport == "laptop" else "lab_2d_phone.png")))
    finally:
        context.close()
