"""Playback in a real headless Chromium, of 30 fps footage: the page draws the frames it
holds (sent by the server in batches) instead of asking the server for each one, and the
server follows: once paused or at the end, a step by hand goes on from the frame on screen.

The catalog is one context of 90 frames 33 ms apart (30.3 fps, played at 30), each a small
picture of its own colour with a box.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workbench
from tests.ui.ui_catalog import write_jpeg
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)

FRAMES = 90
LABEL = ".wb-frame-label"
ROOT = ".wb-frame-root"
BLUR_JS = """() => {
  let focused = document.activeElement;
  while (focused?.shadowRoot?.activeElement) focused = focused.shadowRoot.activeElement;
  focused?.blur();
}"""


def build_footage(folder: Path) -> Path:
    path = folder / "footage.duckdb"
    media = folder / "media"
    with workbench.open(path) as catalog:
        catalog.add_media_roots([media])
        with CatalogWriter(catalog, progress=False) as writer:
            for i in range(FRAMES):
                uri = write_jpeg(media / f"f{i}.jpg", (64, 48), (i * 2, 255 - i * 2, 90))
                car = Roi(
                    f"run/f{i:02d}/car", "box", ["car"], geometry=[box_ring(i % 40, 4, 20, 10)]
                )
                writer.add(
                    Frame(
                        id=f"run/f{i:02d}",
                        context_id="run",
                        timestamp=1_700_000_000_000 + 33 * i,
                        sources=[Source("image", uri, 64, 48, "image/jpeg")],
                        rois=[car],
                    )
                )
        assert writer.report.ok, str(writer.report)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, serve_catalog: Any) -> Any:
    return serve_catalog(build_footage(tmp_path_factory.mktemp("footage")))


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    """The app with the context open at its first frame; `page.frame_messages` lists the
    server's messages that carry frames (a frame to draw or a batch), as they come."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    messages: list[list[str]] = []

    def on_frame(payload: Any) -> None:
        if isinstance(payload, str) and '"events"' in payload:
            changed = [str(e.get("attr")) for e in json.loads(payload)["events"]]
            carried = [a for a in changed if a in ("frame_json", "batch_json")]
            if carried:
                messages.append(carried)

    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    try:
        tab.goto(server.url, wait_until="load")
        expect(tab.locator(LABEL).first).to_have_text(f"frame 1 / {FRAMES} · run/f00")
        expect(tab.locator(ROOT).first).to_have_attribute("data-frame", "run/f00")
        tab.frame_messages = messages
        yield tab
        assert errors == []
    finally:
        context.close()


def drawn(page: Any) -> int:
    return int(page.locator(ROOT).first.get_attribute("data-drawn") or 0)


def shown_position(page: Any) -> tuple[int, str]:
    """The position the label shows (1-based) and the frame it names."""
    text = page.locator(f"{LABEL} .wb-live-text").first.inner_text()
    return int(text.split(" / ")[0].removeprefix("frame ")), text.split(" · ")[1]


def label_position(page: Any) -> int:
    """The position the label shows, once the viewer has drawn the frame it names."""
    position, frame_id = shown_position(page)
    expect(page.locator(ROOT).first).to_have_attribute("data-frame", frame_id)
    return position


def play_until(page: Any, button: str, past: int) -> None:
    """Play with `button` until the label is past position `past` (either way)."""
    start = shown_position(page)[0]
    page.locator(button).first.click()
    for _ in range(400):
        page.wait_for_timeout(50)
        if abs(shown_position(page)[0] - start) >= abs(past - start):
            return
    raise AssertionError(f"still at {shown_position(page)[0]}")


def test_playing_draws_the_frames_the_page_holds(page: Any):
    """Playing the whole context takes a message per batch of frames, not one per frame
    drawn (as asking the server for each frame did); at the end the server is at the last
    frame, so a step back goes to the one before it."""
    page.wait_for_timeout(300)
    page.frame_messages.clear()
    before = drawn(page)
    page.locator(".wb-play").first.click()
    expect(page.locator(LABEL).first).to_have_text(f"frame {FRAMES} / {FRAMES} · run/f89")
    expect(page.locator(".wb-play.wb-on")).to_have_count(0)
    page.wait_for_timeout(300)
    frames_drawn = drawn(page) - before
    messages = len(page.frame_messages)
    # 90 frames at 30 fps are 6 batches of 15 (a batch also moves the server to where the
    # page is); each frame drawn from a message of its own would make messages >= drawn.
    assert frames_drawn >= 12, frames_drawn
    assert 2 * messages < frames_drawn, (messages, frames_drawn, page.frame_messages)
    assert sum("batch_json" in m for m in page.frame_messages) >= FRAMES // 15
    page.locator(".wb-prev button").first.click()
    expect(page.locator(LABEL).first).to_have_text(f"frame {FRAMES - 1} / {FRAMES} · run/f88")


def test_pausing_leaves_the_server_at_the_frame_on_screen(page: Any):
    play_until(page, ".wb-play", 40)
    page.locator(".wb-pause").first.click()
    expect(page.locator(".wb-play.wb-on")).to_have_count(0)
    page.wait_for_timeout(400)
    paused = label_position(page)
    assert 40 <= paused < FRAMES
    page.locator(".wb-next button").first.click()
    expect(page.locator(LABEL).first).to_contain_text(f"frame {paused + 1} / {FRAMES} ·")
    assert label_position(page) == paused + 1
    # backwards, paused with the space key (the server sets the direction)
    play_until(page, ".wb-play-back", paused - 10)
    page.evaluate(BLUR_JS)  # a focused button would take the space key as a click
    page.keyboard.press(" ")
    expect(page.locator(".wb-play-back.wb-on")).to_have_count(0)
    page.wait_for_timeout(400)
    back = label_position(page)
    assert 1 < back <= paused - 9
    page.locator(".wb-prev button").first.click()
    expect(page.locator(LABEL).first).to_contain_text(f"frame {back - 1} / {FRAMES} ·")
