"""The three screens the pages must read on, and a page opened at one of them."""

from __future__ import annotations

VIEWPORTS = {"projector": (1280, 720), "laptop": (1366, 768), "phone": (390, 844)}  # the projector's with ?big=1


def open_at(browser, url: str, viewport: str):
    """A fresh browser context at `viewport` (a phone's is mobile, with touch) on `url`:
    (context, page, errors), where errors collects the page's uncaught JavaScript errors."""
    w, h = VIEWPORTS[viewport]
    phone = viewport == "phone"
    context = browser.new_context(viewport={"width": w, "height": h}, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    return context, page, errors
