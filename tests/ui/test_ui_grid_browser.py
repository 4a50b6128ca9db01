"""The grid as served: one JSON page per change, drawn once, and before the facets.

A tab of its own on the shared `workbench serve` process over part of the demo, with the
websocket's frames recorded from the first one on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)

GRID = "div.wb-grid-root"


class Recorded:
    """A tab whose incoming websocket frames are kept, in order of arrival."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.frames: list[str] = []
        self.errors: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _received(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            self.frames.append(payload)

    def grid(self) -> Any:
        return self.page.locator(GRID)

    def version(self) -> int:
        return int(self.grid().get_attribute("data-version") or 0)

    def wait_idle(self) -> None:
        self.page.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
            " && Bokeh.documents[0].is_idle"
        )

    def wait_for_frame(self, pattern: str, after: int) -> int:
        """Index of the first frame after `after` that matches `pattern` (waits for it)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for i, frame in enumerate(self.frames[after:], start=after):
                if re.search(pattern, frame):
                    return i
            self.page.wait_for_timeout(50)
        raise AssertionError(f"no websocket frame matched {pattern!r}")


@pytest.fixture
def tab(browser: Any, demo_server: Any) -> Iterator[Recorded]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        recorded = Recorded(context.new_page())
        recorded.page.goto(demo_server.url, wait_until="load")
        expect(recorded.page.locator(f"{GRID} .wb-tile").first).to_be_visible()
        recorded.wait_idle()
        yield recorded
        assert recorded.errors == []
    finally:
        context.close()


def test_each_page_is_one_message_and_one_draw(tab: Recorded):
    page = tab.page
    page.locator(".wb-grid-mode button", has_text="frames").click()
    expect(tab.grid()).to_have_attribute("data-mode", "frames")
    tab.wait_idle()
    expect(page.locator(f"{GRID} .wb-tile[data-frame-id]")).to_have_count(48)

    for button, page_number in ((".wb-page-next", "1"), (".wb-page-prev", "0")):
        version, sent = tab.version(), len(tab.frames)
        page.locator(f"{button} button").first.click()
        expect(tab.grid()).to_have_attribute("data-page", page_number)
        tab.wait_idle()
        # drawn once, from one message holding the whole page
        assert tab.version() == version + 1
        pages = [f for f in tab.frames[sent:] if '"page_json"' in f]
        assert len(pages) == 1
        assert pages[0].count('\\"id\\"') >= 48  # every tile inside the one string
        # the tiles drawn are the ones sent, ROI overlays included
        ids = page.locator(f"{GRID} .wb-tile").evaluate_all(
            "tiles => tiles.map(t => t.dataset.frameId)"
        )
        assert len(ids) == 48 and all(f'\\"id\\":\\"{i}\\"' in pages[0] for i in ids)
        assert page.locator(f"{GRID} .wb-tile svg path").count() > 0


def test_the_grid_is_sent_before_the_facets(tab: Recorded):
    page = tab.page
    sent = len(tab.frames)
    box = page.locator(".wb-where input").first
    box.fill("f.frame_index < 3")
    page.locator(".wb-apply button").first.click()
    grid_at = tab.wait_for_frame('"page_json"', sent)
    facets_at = tab.wait_for_frame("contexts match", sent)  # the facets summary
    assert grid_at < facets_at
    expect(page.locator(".wb-match-count").first).to_contain_text("contexts match")
