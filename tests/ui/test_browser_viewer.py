"""The viewer's component in a real headless Chromium: every ROI kind is drawn where it is
(found again by hovering it), the hole of a polygon is not part of it, a mask and a second
camera are drawn, and a shape clicked on the picture is the one the app tags.

The UI tests' small catalog (tests/ui/ui_catalog.py) is served; its pictures are 64 x 48 and
drawn some ten times larger, so each ROI is well apart on screen.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ARTIFACTS
from tests.ui.ui_catalog import build_catalog

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)

TILES = "div.wb-grid-root .wb-tile"

# Where a point of source `index`'s pixels is on screen (the canvas shows the whole picture).
AT_JS = """([index, x, y]) => {
  const roots = [document];
  const canvases = [];
  while (roots.length) {
    const root = roots.pop();
    canvases.push(...root.querySelectorAll('canvas.wb-canvas'));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
  }
  const model = [...Bokeh.documents[0].all_models]
    .find((m) => (m.css_classes || []).includes('wb-viewer') && m.data?.frame_json !== undefined);
  const source = JSON.parse(model.data.frame_json).sources[index];
  const rect = canvases[index].getBoundingClientRect();
  const k = rect.width / source.w;
  return {x: rect.left + x * k, y: rect.top + y * k};
}"""


# Bokeh has drawn the document and has no message in flight.
SETTLED_JS = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
)
# the server's frame, as the viewer's model holds it
SERVER_FRAME_JS = (
    "() => JSON.parse([...Bokeh.documents[0].all_models].find((m) =>"
    " (m.css_classes || []).includes('wb-viewer') && m.data?.frame_json !== undefined)"
    ".data.frame_json).frame"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, serve_catalog: Any) -> Any:
    folder = tmp_path_factory.mktemp("viewer")
    build_catalog(folder).close()
    return serve_catalog(folder / "ui.duckdb")


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(server.url, wait_until="load")
        tab.wait_for_selector(TILES)
        # The parts added once the page is on screen are there, and Bokeh has nothing in
        # flight: points measured on the canvas stay where they are while the test hovers.
        tab.wait_for_selector(".wb-classes-shown")
        tab.wait_for_function(SETTLED_JS)
        yield tab
        assert errors == []
    finally:
        context.close()


def open_context(page: Any, context_id: str) -> None:
    page.locator(TILES, has_text=context_id).first.click()
    expect(page.locator(".wb-frame-label").first).to_contain_text(f"· {context_id}/f0")
    expect(page.locator(".wb-frame-root").first).to_have_attribute("data-frame", f"{context_id}/f0")


def tooltip_at(page: Any, x: float, y: float, source: int = 0, wait_ms: int = 1000) -> str:
    """Move the mouse to source pixel (x, y) and read the tooltip ("" when none shows
    within `wait_ms`)."""
    page.wait_for_function(SETTLED_JS)
    at = page.evaluate(AT_JS, [source, x, y])
    page.mouse.move(at["x"], at["y"])
    tooltip = page.locator(".wb-tooltip").first
    try:
        tooltip.wait_for(state="visible", timeout=wait_ms)
    except playwright_api.TimeoutError:
        return ""
    return str(tooltip.text_content())


def test_every_roi_kind_is_drawn_where_it_is(page: Any):
    open_context(page, "ctx-0")
    # the car box (4, 4)-(24, 14), the predicted car inside it is the smaller: both described
    found = tooltip_at(page, 6, 6)
    assert "label:car" in found and "attributes:occluded=true" in found
    assert "field:predictions" in found and "confidence:0.100" in found
    # the person polygon, but not in its hole
    assert "label:person" in tooltip_at(page, 33, 8)
    assert "label:person" not in tooltip_at(page, 45, 22)
    # the lane polyline from (0, 47) to (32, 30), the nose points
    assert "label:lane" in tooltip_at(page, 16, 38.5)
    assert "label:nose" in tooltip_at(page, 10, 20)
    # nothing over the bare picture
    assert tooltip_at(page, 62, 2, wait_ms=300) == ""
    # the badge of the frame's classification, its field as the tooltip
    badge = page.locator(".wb-badge", has_text="night 0.80").first
    expect(badge).to_have_attribute("title", "predictions")


def test_a_mask_and_a_second_camera(page: Any):
    open_context(page, "ctx-group")
    titles = page.locator(".wb-source-title").all_text_contents()
    assert titles == ["front", "rear"]
    assert "label:road" in tooltip_at(page, 4.5, 20)  # the mask's outline
    assert "label:truck" in tooltip_at(page, 4, 4, source=1)
    # the mask is drawn: its column differs from the picture beside it
    colours = page.evaluate(
        """([a, b]) => {
          const roots = [document];
          let canvas = null;
          while (roots.length && canvas === null) {
            const root = roots.pop();
            canvas = root.querySelector('canvas.wb-canvas');
            for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
          }
          const k = canvas.width / 64;
          const ctx = canvas.getContext('2d');
          return [a, b].map((x) => [...ctx.getImageData(Math.round(x * k), Math.round(30 * k), 1, 1).data]);
        }""",
        [4.5, 30],
    )
    assert colours[0] != colours[1]


def test_a_shape_clicked_on_the_picture_is_the_one_tagged(page: Any):
    open_context(page, "ctx-0")
    # in the sample view (where its controls say what they did), larger
    canvas = page.locator("canvas.wb-canvas").first
    width = canvas.bounding_box()["width"]
    page.locator(".wb-expand button").first.click()
    expect(page.locator(".wb-expand button").first).to_contain_text("Close")
    for _ in range(100):
        if canvas.bounding_box()["width"] > width:
            break
        page.wait_for_timeout(50)
    assert canvas.bounding_box()["width"] > width
    at = page.evaluate(AT_JS, [0, 33, 8])  # the person polygon
    page.mouse.click(at["x"], at["y"])
    page.locator(".wb-sample-tag input").first.fill("check")
    page.locator(".wb-tag-rois button").first.click()
    message = page.locator(".wb-sample-message").first
    expect(message).to_contain_text(re.compile(r"tagged 1 ROIs? 'check'"))
    # stepping forgets the choice: nothing chosen is refused with a message
    page.locator(".wb-next button").first.click()
    expect(page.locator(".wb-frame-root").first).to_have_attribute("data-frame", "ctx-0/f1")
    page.locator(".wb-tag-rois button").first.click()
    expect(message).to_contain_text("click shapes on the picture")


def test_the_timeline_names_its_frames_and_jumps_on_a_click(page: Any):
    open_context(page, "ctx-0")
    timeline = page.locator(".wb-timeline canvas").first
    timeline.scroll_into_view_if_needed()
    box = timeline.bounding_box()
    assert box is not None
    # five frames: the fourth bar's middle
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + 20)
    expect(page.locator(".wb-timeline-tooltip").first).to_contain_text("ctx-0/f3")
    page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + 20)
    expect(page.locator(".wb-frame-label").first).to_contain_text("frame 4 / 5")
    expect(page.locator(".wb-frame-root").first).to_have_attribute("data-frame", "ctx-0/f3")


def test_the_screenshot_of_the_viewer_is_saved(page: Any):
    open_context(page, "ctx-0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".wb-viewer").first.screenshot(path=str(ARTIFACTS / "viewer-kinds.png"))
    assert (ARTIFACTS / "viewer-kinds.png").stat().st_size > 5_000


def test_a_step_is_one_message_and_the_page_follows_the_drawn_frame(page: Any):
    """In frames mode a step changes the label, the timeline, the grid's active tile and the
    sample title; all of them follow the viewer's one frame message; playing runs in the
    page and stops at the last frame."""
    page.locator(".wb-grid-mode button", has_text="frames").first.click()
    expect(page.locator("div.wb-grid-root").first).to_have_attribute("data-mode", "frames")
    page.locator(TILES, has_text="ctx-0/f0").first.click()
    root = page.locator(".wb-frame-root").first
    expect(root).to_have_attribute("data-frame", "ctx-0/f0")
    changed: list[str] = []
    last_frame = [time.monotonic()]

    def on_frame(payload: Any) -> None:
        last_frame[0] = time.monotonic()
        if isinstance(payload, str) and '"events"' in payload:
            changed.extend(str(e.get("attr")) for e in json.loads(payload)["events"])

    def quiet(seconds: float = 0.7) -> None:
        """Wait until the server has sent nothing for `seconds` (what the page asked for
        before, and the parts and counts that come after a load, have all arrived)."""
        deadline = time.monotonic() + 30
        while time.monotonic() - last_frame[0] < seconds and time.monotonic() < deadline:
            page.wait_for_timeout(100)

    page.wait_for_timeout(300)
    # the websocket opened before this listener: watch a fresh page's socket instead
    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    page.reload(wait_until="load")
    page.wait_for_selector(TILES)
    page.wait_for_selector(".wb-classes-shown")  # the parts added once the page is shown
    page.locator(".wb-grid-mode button", has_text="frames").first.click()
    expect(page.locator("div.wb-grid-root").first).to_have_attribute("data-mode", "frames")
    page.locator(TILES, has_text="ctx-0/f0").first.click()
    expect(root).to_have_attribute("data-frame", "ctx-0/f0")
    # The viewer showed that frame already: the click's answer (the selection: its count,
    # the action buttons, the tile marked) is what to wait for. A loaded server may take
    # longer than quiet()'s silence to send it, which then came after the step's click.
    expect(page.locator(".wb-tile.wb-selected", has_text="ctx-0/f0").first).to_be_visible()
    page.wait_for_function(SETTLED_JS)
    quiet()
    changed.clear()
    page.locator(".wb-next button").first.click()
    expect(root).to_have_attribute("data-frame", "ctx-0/f1")
    expect(page.locator(".wb-frame-label").first).to_have_text("frame 2 / 5 · ctx-0/f1")
    expect(page.locator(".wb-tile.wb-active").first).to_contain_text("ctx-0/f1")
    expect(page.locator(".wb-sample-title").first).to_contain_text("sample 2 of")
    page.wait_for_timeout(300)
    assert changed == ["frame_json"], " ".join(changed)
    # play from here: the page asks for each frame in turn and stops at the last one
    page.locator(".wb-play").first.click()
    expect(root).to_have_attribute("data-frame", "ctx-0/f4")
    expect(page.locator(".wb-frame-label").first).to_have_text("frame 5 / 5 · ctx-0/f4")
    expect(page.locator(".wb-play.wb-on")).to_have_count(0)
    # a key steps back
    page.keyboard.press("ArrowLeft")
    expect(page.locator(".wb-frame-label").first).to_have_text("frame 4 / 5 · ctx-0/f3")


class HeldServer:
    """Routes a tab's websockets through the test: while `closed`, the server's messages are
    held back; `release()` sends them on in the order the server sent them."""

    def __init__(self, tab: Any) -> None:
        self.closed = False
        self.held: list[Any] = []
        self.sockets: list[Any] = []  # the page's side of each websocket
        tab.route_web_socket(re.compile(".*"), self._route)

    def _route(self, socket: Any) -> None:
        self.sockets.append(socket)
        upstream = socket.connect_to_server()
        upstream.on_message(lambda m: self.held.append(m) if self.closed else socket.send(m))

    def release(self) -> None:
        while self.held:  # more may come meanwhile
            self.sockets[-1].send(self.held.pop(0))
        self.closed = False


def test_a_step_to_a_frame_held_in_the_page_is_drawn_before_the_server_answers(
    browser: Any, server: Any
):
    """The server's frame carries its neighbours: a click on frame ▶ / ◀ frame draws the
    neighbour at once, while the server's messages are held back; once they come, the page
    shows the server's frame (the same one)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        server_side = HeldServer(tab)
        tab.goto(server.url, wait_until="load")
        tab.wait_for_selector(".wb-classes-shown")
        tab.wait_for_function(SETTLED_JS)
        open_context(tab, "ctx-0")
        root = tab.locator(".wb-frame-root").first
        label = tab.locator(".wb-frame-label").first
        tab.locator(".wb-next button").first.click()
        expect(root).to_have_attribute("data-frame", "ctx-0/f1")
        # the server's frame (with its neighbours) has come, not only the page's own step
        tab.wait_for_function(f'() => ({SERVER_FRAME_JS})() === "ctx-0/f1"')
        tab.wait_for_function(SETTLED_JS)
        tab.wait_for_timeout(500)  # the read-ahead's answers have come
        server_side.closed = True
        tab.locator(".wb-next button").first.click()
        expect(root).to_have_attribute("data-frame", "ctx-0/f2")
        expect(label).to_have_text("frame 3 / 5 · ctx-0/f2")
        # one step drawn ahead at most: a second click waits for the server's frame
        tab.locator(".wb-next button").first.click()
        tab.wait_for_timeout(300)
        expect(root).to_have_attribute("data-frame", "ctx-0/f2")
        server_side.release()
        expect(root).to_have_attribute("data-frame", "ctx-0/f3")
        expect(label).to_have_text("frame 4 / 5 · ctx-0/f3")
        assert errors == []
    finally:
        context.close()


def test_arrow_keys_and_match_steps_are_drawn_before_the_server_answers(browser: Any, server: Any):
    """The arrow keys (shift: to a match) and ◀ match / match ▶ draw the frame they step to
    from what the page holds, while the server's messages are held back; once those come,
    the page ends on the server's frame, which is the same one."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    server_side = HeldServer(tab)

    server_frame = SERVER_FRAME_JS

    def step_held(press: Any, frame: str, text: str) -> None:
        """`press` with the server's messages held: the page draws `frame` at once; then
        they come, and the server's frame is that one too."""
        tab.wait_for_function(SETTLED_JS)
        tab.wait_for_timeout(400)  # the last step's answers, and the read-ahead's, have come
        drawn = int(root.get_attribute("data-drawn") or 0)
        server_side.closed = True
        press()
        expect(root).to_have_attribute("data-frame", frame, timeout=5_000)
        expect(label).to_have_text(text, timeout=5_000)
        assert tab.evaluate(server_frame) != frame  # the server has not answered yet
        server_side.release()
        tab.wait_for_function(f"() => ({server_frame})() === {json.dumps(frame)}")
        # the server's frame is drawn over the page's (with its hover rows)
        deadline = time.monotonic() + 30
        while int(root.get_attribute("data-drawn") or 0) < drawn + 2:
            assert time.monotonic() < deadline, "the server's frame was not drawn"
            tab.wait_for_timeout(50)
        tab.wait_for_function(SETTLED_JS)
        expect(root).to_have_attribute("data-frame", frame)
        expect(label).to_have_text(text)

    try:
        tab.goto(server.url, wait_until="load")
        tab.wait_for_selector(".wb-classes-shown")
        tab.wait_for_function(SETTLED_JS)
        where = tab.locator(".wb-where input").first
        where.fill("f.weather = 'rain'")  # the even frames match
        where.press("Enter")
        tab.wait_for_function(SETTLED_JS)
        open_context(tab, "ctx-0")
        root = tab.locator(".wb-frame-root").first
        label = tab.locator(".wb-frame-label").first
        label.click()  # the keys go to the page, not to the WHERE box
        step_held(lambda: tab.keyboard.press("ArrowRight"), "ctx-0/f1", "frame 2 / 5 · ctx-0/f1")
        # a match that is the next frame
        step_held(
            lambda: tab.keyboard.press("Shift+ArrowRight"), "ctx-0/f2", "frame 3 / 5 · ctx-0/f2"
        )
        # a match further off, by the button, and back by the key
        match_next = tab.locator(".wb-next-match button").first
        step_held(match_next.click, "ctx-0/f4", "frame 5 / 5 · ctx-0/f4")
        step_held(
            lambda: tab.keyboard.press("Shift+ArrowLeft"), "ctx-0/f2", "frame 3 / 5 · ctx-0/f2"
        )
        step_held(lambda: tab.keyboard.press("ArrowLeft"), "ctx-0/f1", "frame 2 / 5 · ctx-0/f1")
        step_held(
            tab.locator(".wb-prev-match button").first.click, "ctx-0/f0", "frame 1 / 5 · ctx-0/f0"
        )
        assert errors == []
    finally:
        context.close()
