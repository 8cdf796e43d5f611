"""Every page of the app in a real browser, in both languages: it draws, with no error and no missing text.

DROPVIZ_SCREENSHOTS=1 also saves each page's README screenshot (assets/page_<name>.png, English).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dropviz.i18n import LANGS
from dropviz.ui.app import PAGES

pytestmark = pytest.mark.browser

ASSETS = Path(__file__).resolve().parents[2] / "assets"
# Small lab settings so the pages that retrain the lab's model stay quick.
LAB = "width=32&epochs=300"


def path_of(name: str) -> str:
    return "" if name == "lab" else name


@pytest.mark.parametrize("lang", list(LANGS))
@pytest.mark.parametrize("name", list(PAGES))
def test_page_draws_with_no_error_and_no_missing_text(browser, lab_server, name, lang):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab_server.url}/{path_of(name)}?lang={lang}&{LAB}")
    # Drawn: the page's title is there and Streamlit has stopped running the script.
    page.wait_for_selector("h1", timeout=30_000)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        time.sleep(0.3)
    body = page.inner_text("body")
    assert "⟦" not in body, [line for line in body.splitlines() if "⟦" in line]
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "unexpected problem" not in body and "意外问题" not in body  # the page guard's message
    assert not errors, errors
    if os.environ.get("DROPVIZ_SCREENSHOTS") == "1" and lang == "en" and name != "lab":
        time.sleep(2)
        page.screenshot(path=str(ASSETS / f"page_{name}.png"), full_page=True)
    context.close()


def test_settings_survive_a_visit_to_other_pages(browser, lab_server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{lab_server.url}/?p=0.3&width=16&epochs=50")
    page.wait_for_selector('[data-testid="stSliderThumbValue"]', timeout=30_000)
    time.sleep(2)
    for link in ("Dropout vs DropPath", "Why 1/(1−p)?", "Lab: dropout vs none"):
        page.get_by_role("link", name=link).click()
        time.sleep(3)
    page.wait_for_selector('[data-testid="stSliderThumbValue"]', timeout=30_000)
    values = page.locator('[data-testid="stSliderThumbValue"]').all_inner_texts()[:3]
    assert sorted(values) == sorted(["0.30", "16", "50"])  # p in the bar above the charts, the rest in the sidebar
    assert page.evaluate("location.search") == "?p=0.3&width=16&epochs=50"
    page.close()
