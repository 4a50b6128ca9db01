"""The served app fetches nothing from outside this machine, whatever a person opens.

Most data centres that hold driving data have no internet access: a page that loads its
JavaScript, CSS or fonts from a CDN is blank or unstyled there. Every request the browser
makes (scripts, stylesheets, ES modules, images, websockets) must go to the server itself.
The notebook side is tested in tests/notebooks/test_jupyterlab.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)

TILES = "div.wb-grid-root .wb-tile"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


IDLE_JS = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
)


def outside_loopback(urls: list[str]) -> list[str]:
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob")
        and (urlsplit(url).hostname or "") not in LOOPBACK
    ]


@pytest.fixture
def recorded_page(browser: Any, demo_server: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A fresh tab on the served app, with every URL it requested (websockets included)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.on("websocket", lambda ws: requests.append(ws.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(demo_server.url, wait_until="load")
        page.wait_for_function(IDLE_JS, timeout=30_000)
        yield page, requests, errors
    finally:
        context.close()


def test_nothing_leaves_loopback_while_browsing_and_acting(recorded_page: Any):
    page, requests, errors = recorded_page
    expect(page.locator(TILES).first).to_be_visible()
    page.locator(TILES).first.click()
    label = page.locator(".wb-frame-label").first
    expect(label).to_contain_text(re.compile(r"frame 1 / \d+"))
    page.locator(".wb-next button").first.click()
    expect(label).to_contain_text(re.compile(r"frame 2 / \d+"))
    # What is added after the first render (actions, runs) and a dialog with its widgets.
    page.locator(".wb-send button").first.click()
    expect(page.locator(".wb-send-dialog").first).to_be_visible()
    # The dialog is a box over the page: closed, the grid is there as it was.
    page.locator(".wb-send-dialog .wb-modal-close button").first.click()
    expect(page.locator(".wb-send-dialog").first).to_be_hidden()
    page.locator(".wb-grid-mode button", has_text="frames").first.click()
    expect(page.locator("div.wb-grid-root").first).to_have_attribute("data-mode", "frames")
    page.wait_for_function(IDLE_JS, timeout=30_000)
    assert any(url.startswith("ws://127.0.0.1") for url in requests)  # it does record
    assert outside_loopback(requests) == []
    assert errors == []
