"""The served app in a real headless Chromium: what only a browser can show.

Every test gets a fresh tab (a fresh Bokeh session) on one `workbench serve` process over the
demo catalog. Waits are for Bokeh to be idle and then for the visible change, never sleeps.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from bokeh.util.token import get_session_id

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# Playwright's 5 s default is short for a 2-core CI machine that also runs the server.
expect.set_options(timeout=30_000)

GRID = "div.wb-grid-root"
TILES = f"{GRID} .wb-tile"


def tile_ids(page: Any) -> list[str]:
    return [
        tile.get_attribute("data-context-id") or tile.get_attribute("data-frame-id")
        for tile in page.locator(TILES).all()
    ]


def apply_where(app: Any, where: str) -> None:
    box = app.page.locator(".wb-where input").first
    box.fill(where)
    app.page.locator(".wb-apply button").first.click()


def wait_for_tiles(app: Any) -> int:
    expect(app.page.locator(TILES).first).to_be_visible()
    app.wait_idle()
    return app.page.locator(TILES).count()


def open_first_tile(app: Any) -> str:
    """Click the first tile and wait for the viewer to show its first frame."""
    wait_for_tiles(app)
    app.page.locator(TILES).first.click()
    label = app.page.locator(".wb-frame-label").first
    expect(label).to_contain_text(re.compile(r"frame 1 / \d+"))
    app.wait_idle()
    # The text inside the label's shadow root (innerText of the host stops there).
    return str(app.text(".wb-frame-label"))


def test_page_loads_without_console_errors(app_page: Any):
    count = wait_for_tiles(app_page)
    assert 0 < count <= 48
    assert app_page.page.title() == "Workbench"
    expect(app_page.page.locator(".wb-where input").first).to_be_visible()
    expect(app_page.page.locator(".wb-query-error")).to_be_hidden()
    assert app_page.errors == []


def test_query_narrows_the_grid(app_page: Any):
    before = wait_for_tiles(app_page)
    assert before > 1
    first = tile_ids(app_page.page)[0]
    grid = app_page.page.locator(GRID)
    total_before = grid.get_attribute("data-total")

    apply_where(app_page, f"f.context_id = '{first}'")
    expect(grid).not_to_have_attribute("data-total", total_before or "")
    app_page.wait_idle()
    assert grid.get_attribute("data-total") == "1"
    assert tile_ids(app_page.page) == [first]
    expect(app_page.page.locator(".wb-query-error")).to_be_hidden()


def test_bad_query_shows_the_error_until_fixed(app_page: Any):
    wait_for_tiles(app_page)
    apply_where(app_page, "f.no_such_column = 1")
    error = app_page.page.locator(".wb-query-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("no_such_column")

    apply_where(app_page, "f.frame_index >= 0")
    expect(error).to_be_hidden()
    wait_for_tiles(app_page)


def test_clicking_a_tile_opens_the_viewer_and_next_steps_frames(app_page: Any):
    page = app_page.page
    first_label = open_first_tile(app_page)
    expect(page.locator(".wb-viewer canvas").first).to_be_visible()

    # Another context: the viewer moves to its first frame.
    page.locator(TILES).nth(1).click()
    opened = app_page.wait_text_change(".wb-frame-label", first_label)
    assert opened and re.match(r"frame 1 / \d+", opened)

    page.locator(".wb-next button").first.click()
    stepped = app_page.wait_text_change(".wb-frame-label", opened)
    assert stepped and re.match(r"frame 2 / \d+", stepped)
    assert app_page.errors == []


def test_viewer_screenshot_is_saved(app_page: Any):
    open_first_tile(app_page)
    path = app_page.screenshot("viewer")
    assert path.stat().st_size > 10_000
    viewer = app_page.page.locator(".wb-viewer").first
    box = viewer.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 200


# Where the smallest box-shaped ROI of the viewer's first source is on screen, and its label:
# the frame the viewer component was sent (its model's `frame_json`, in source pixels) mapped
# onto its canvas (not zoomed: the canvas shows the whole picture).
ROI_ON_SCREEN_JS = """() => {
  const find = (selector) => {
    const roots = [document];
    while (roots.length) {
      const root = roots.pop();
      const hit = root.querySelector(selector);
      if (hit) return hit;
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
    }
    return null;
  };
  const model = [...Bokeh.documents[0].all_models]
    .find((m) => (m.css_classes || []).includes('wb-viewer') && m.data?.frame_json !== undefined);
  const canvas = find('canvas.wb-canvas');
  if (!model || !canvas) return null;
  const source = JSON.parse(model.data.frame_json).sources[0];
  let best = null;
  for (const shape of source.shapes) {
    const ring = shape.p[0];
    if (shape.p.length !== 1 || ring.length !== 8) continue;
    const xs = ring.filter((_, i) => i % 2 === 0), ys = ring.filter((_, i) => i % 2 === 1);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const area = (x1 - x0) * (y1 - y0);
    if (area > 0 && (best === null || area < best.area)) {
      best = {area, label: shape.hv[0][1], x: (x0 + x1) / 2, y: (y0 + y1) / 2};
    }
  }
  if (best === null) return null;
  const rect = canvas.getBoundingClientRect();
  const k = rect.width / source.w;
  return {label: best.label, x: rect.left + best.x * k, y: rect.top + best.y * k};
}"""


def test_hovering_a_roi_shows_its_label(app_page: Any):
    open_first_tile(app_page)
    expect(app_page.page.locator(".wb-viewer-plot canvas").first).to_be_visible()
    roi = app_page.page.evaluate(ROI_ON_SCREEN_JS)
    assert roi is not None, "the viewer shows no box ROI on the first frame"

    app_page.page.mouse.move(roi["x"], roi["y"])
    tooltip = app_page.page.locator(".wb-tooltip").first
    expect(tooltip).to_be_visible()
    # The tooltip is built with textContent inside the viewer's shadow root.
    expect(tooltip.get_by_text(roi["label"], exact=True).first).to_be_visible()


def test_range_selection_is_read_back_from_the_server(app_page: Any, demo_server: Any):
    wait_for_tiles(app_page)
    page = app_page.page
    ids = tile_ids(page)[:3]
    assert len(ids) == 3
    tiles = page.locator(TILES)
    tiles.nth(0).click()
    tiles.nth(2).click(modifiers=["Shift"])
    expect(page.locator(f"{GRID} .wb-tile.wb-selected")).to_have_count(3)
    app_page.wait_idle()

    token = re.search(r'"token":\s*"([^"]+)"', page.content())
    assert token, "no Bokeh session token in the page"
    response = demo_server.get(f"/api/sessions/{get_session_id(token.group(1))}/selection")
    assert response.status_code == 200
    selection = json.loads(response.text)
    assert set(selection["context_ids"]) == set(ids)
    assert selection["count"] >= 3
    expect(page.locator(".wb-selection-count").first).to_contain_text(str(selection["count"]))


def test_frames_mode_pages_through_48_tiles_at_a_time(app_page: Any):
    wait_for_tiles(app_page)
    page = app_page.page
    grid = page.locator(GRID)
    page.locator(".wb-grid-mode button", has_text="frames").click()
    expect(grid).to_have_attribute("data-mode", "frames")
    app_page.wait_idle()
    expect(page.locator(f"{GRID} .wb-tile[data-frame-id]")).to_have_count(48)
    first_page = tile_ids(page)
    assert int(grid.get_attribute("data-total") or 0) > 48

    page.locator(".wb-page-next button").first.click()
    expect(grid).to_have_attribute("data-page", "1")
    app_page.wait_idle()
    second_page = tile_ids(page)
    assert second_page and not set(second_page) & set(first_page)

    page.locator(".wb-page-prev button").first.click()
    expect(grid).to_have_attribute("data-page", "0")
    app_page.wait_idle()
    assert tile_ids(page) == first_page
