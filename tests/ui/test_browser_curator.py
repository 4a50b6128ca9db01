"""What a curator does in the served app, in a real headless Chromium: filters that stay on
screen, the viewer following the query, the sample view, dialogs over the grid, chips and
count bars. Each test gets a fresh tab (a fresh session) on the shared demo server; none
writes to the catalog.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)

GRID = "div.wb-grid-root"
TILES = f"{GRID} .wb-tile"


def ready(app: Any) -> None:
    expect(app.page.locator(TILES).first).to_be_visible()
    app.wait_idle()


def apply_where(app: Any, where: str) -> None:
    app.page.locator(".wb-where input").first.fill(where)
    app.page.locator(".wb-apply button").first.click()


def chosen_labels(app: Any) -> list[str]:
    """The items Choices.js shows as chosen in the Labels box."""
    items = app.page.locator(".wb-labels .choices__list--multiple .choices__item")
    return [t.strip().removesuffix("Remove item").strip() for t in items.all_inner_texts()]


def test_a_chosen_label_stays_in_its_box_when_the_query_changes(app_page: Any):
    ready(app_page)
    page = app_page.page
    page.locator(".wb-label-counts .wb-bar", has_text="car").first.wait_for()
    box = page.locator(".wb-labels input").first
    box.click()
    box.fill("car")
    box.press("Enter")
    expect(page.locator(".wb-chip", has_text=": car")).to_have_count(1)
    app_page.wait_idle()
    assert [c.split(" (")[0] for c in chosen_labels(app_page)] == ["car"]
    # a new query relabels the option with a new count: the choice stays on screen
    apply_where(app_page, "f.frame_index < 10")
    expect(page.locator(".wb-chip", has_text="WHERE")).to_have_count(1)
    app_page.wait_idle()
    page.wait_for_timeout(1000)  # the facets follow the page by FACETS_PAUSE
    app_page.wait_idle()
    assert [c.split(" (")[0] for c in chosen_labels(app_page)] == ["car"]
    assert app_page.errors == []


def test_the_viewer_follows_the_query_and_says_so(app_page: Any):
    ready(app_page)
    page = app_page.page
    ids = [t.get_attribute("data-context-id") for t in page.locator(TILES).all()]
    label = page.locator(".wb-frame-label").first
    expect(label).to_contain_text(ids[0])
    apply_where(app_page, f"f.context_id = '{ids[1]}'")
    notice = page.locator(".wb-viewer-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(f"{ids[0]} does not match the query any more")
    expect(label).to_contain_text(ids[1])
    apply_where(app_page, "f.context_id = 'no such context'")
    expect(notice).to_contain_text("Nothing matches the query")
    expect(label).to_have_text("no frame")
    apply_where(app_page, "")
    expect(notice).to_be_hidden()
    expect(label).to_contain_text(ids[0])


WINDOW = {"x": 0, "y": 0, "width": 1600, "height": 1000}


def settled_box(page: Any, locator: Any, want: dict[str, float]) -> Any:
    """The locator's box once it is `want`, or as it is after 10 s (a layout's styles can
    reach the page a moment after the change that asked for them)."""
    deadline = time.monotonic() + 10
    box = locator.bounding_box()
    while box != want and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        box = locator.bounding_box()
    return box


def test_the_sample_view_takes_the_screen_and_keys_move_through_samples(app_page: Any):
    ready(app_page)
    page = app_page.page
    ids = [t.get_attribute("data-context-id") for t in page.locator(TILES).all()]
    page.locator(TILES).first.click()
    label = page.locator(".wb-frame-label").first
    expect(label).to_contain_text(ids[0])
    app_page.wait_idle()
    page.keyboard.press("e")
    expand = page.locator(".wb-expand button").first
    expect(expand).to_contain_text("Close sample view")
    app_page.wait_idle()
    # the button's label and the view's styles reach the page as separate changes
    area = settled_box(page, page.locator(".wb-sample-view").first, WINDOW)
    assert area is not None and (area["x"], area["y"]) == (0, 0)
    assert (area["width"], area["height"]) == (1600, 1000)  # the whole window
    # the label text of each shape is drawn: the viewer says how many texts it drew
    texts = page.locator(".wb-frame-root").first.get_attribute("data-texts")
    assert texts is not None and int(texts) > 0
    page.keyboard.press("n")
    expect(label).to_contain_text(ids[1])
    page.keyboard.press("ArrowRight")
    expect(label).to_contain_text("frame 2 /")
    page.keyboard.press("p")
    expect(label).to_contain_text(ids[0])
    app_page.screenshot("sample-view")
    page.keyboard.press("Escape")
    expect(expand).to_contain_text("Sample view")
    app_page.wait_idle()
    assert app_page.errors == []


def test_a_dialog_is_a_box_over_the_grid_that_stays_in_place(app_page: Any):
    ready(app_page)
    page = app_page.page
    page.locator(TILES).first.click()
    expect(page.locator(".wb-send button").first).to_be_enabled()
    grid_before = page.locator(GRID).bounding_box()
    page.locator(".wb-send button").first.click()
    dialog = page.locator(".wb-send-dialog").first
    expect(dialog).to_be_visible()
    app_page.wait_idle()
    backdrop = settled_box(page, dialog, WINDOW)
    assert backdrop is not None and (backdrop["width"], backdrop["height"]) == (1600, 1000)
    assert page.locator(GRID).bounding_box() == grid_before
    app_page.screenshot("send-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_count_bars_and_chips_filter_and_unfilter(app_page: Any):
    ready(app_page)
    page = app_page.page
    grid = page.locator(GRID)
    total = grid.get_attribute("data-total")
    page.locator(".wb-grid-mode button", has_text="frames").click()
    expect(grid).to_have_attribute("data-mode", "frames")
    app_page.wait_idle()
    frames = grid.get_attribute("data-total")
    bar = page.locator(".wb-meta-counts-time_of_day .wb-bar").first
    value = bar.get_attribute("data-value")
    bar.click()
    chip = page.locator(".wb-chip", has_text=f"time_of_day: {value}")
    expect(chip).to_have_count(1)
    expect(grid).not_to_have_attribute("data-total", frames or "")
    expect(page.locator(".wb-meta-counts-time_of_day .wb-bar-on")).to_have_count(1)
    chip.click()
    expect(chip).to_have_count(0)
    expect(grid).to_have_attribute("data-total", frames or "")
    assert total
    assert app_page.errors == []
