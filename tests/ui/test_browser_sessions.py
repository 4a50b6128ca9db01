"""Sessions of one served app do not wait for each other's writes.

The app's writes (here: tagging) run on the action pool, not on the server's event loop:
while another action holds the catalog's one writer, a session whose write waits for it
shows that it is busy, and every other session still answers. The server runs in this
process (`serve` on an open catalog) so the test can hold the writer itself, as a long
action of another session would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from workbench.services import Workbench
from workbench.store.catalog import Catalog
from workbench.ui.server import serve

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

IDLE_JS = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
)
GRID = "div.wb-grid-root"


@pytest.fixture
def served(make_catalog: Any) -> Iterator[tuple[str, Catalog]]:
    catalog = make_catalog("ui")
    started: dict[str, Any] = {}
    up = threading.Event()

    def ready(url: str) -> None:
        started["url"], started["loop"] = url, IOLoop.current()
        up.set()

    thread = threading.Thread(
        target=serve, args=(catalog,), kwargs={"port": 0, "ready": ready}, daemon=True
    )
    thread.start()
    try:
        assert up.wait(60), "serve() never called ready()"
        yield started["url"], catalog
    finally:
        if "loop" in started:
            started["loop"].add_callback(started["loop"].stop)
        thread.join(30)


def open_tab(browser: Any, url: str) -> Any:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.goto(url, wait_until="load")
    expect(page.locator(f"{GRID} .wb-tile").first).to_be_visible(timeout=60_000)
    page.wait_for_function(IDLE_JS)
    return page


def test_a_write_waiting_for_the_writer_stalls_no_other_session(
    browser: Any, served: tuple[str, Catalog]
):
    url, catalog = served
    tagging, browsing = open_tab(browser, url), open_tab(browser, url)
    try:
        tagging.locator(f'{GRID} .wb-tile[data-context-id="ctx-1"]').click()
        expect(tagging.locator(".wb-tag-apply button")).to_be_enabled()
        tagging.locator(".wb-tag-input input").fill("held")
        with catalog.transaction():  # another action holds the catalog's writer
            tagging.locator(".wb-tag-apply button").click()
            # The session shows it is at work and waits for the writer ...
            expect(tagging.locator(".wb-acting")).to_be_visible()
            expect(tagging.locator(".wb-tag-apply button")).to_be_disabled()
            # ... while another session still answers a query.
            grid = browsing.locator(GRID)
            expect(grid).to_have_attribute("data-total", "5")
            browsing.locator(".wb-where input").fill("f.context_id = 'ctx-2'")
            browsing.locator(".wb-where input").press("Enter")
            expect(grid).to_have_attribute("data-total", "1", timeout=30_000)
            browsing.wait_for_function(IDLE_JS)
            # The tag is not written yet, and nothing was refused.
            assert Workbench(catalog).audit_log(action="tag_frames") == []
        # The writer is free: the tagging session finishes and says so.
        expect(tagging.locator(".wb-acting")).to_be_hidden(timeout=30_000)
        expect(tagging.locator(".wb-message")).to_contain_text("tagged 5 frames 'held'")
        (entry,) = Workbench(catalog).audit_log(action="tag_frames")
        assert (entry.count, entry.outcome) == (5, "ok")
    finally:
        tagging.context.close()
        browsing.context.close()
