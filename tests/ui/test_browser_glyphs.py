"""Every sign on the served app's buttons and tabs is drawn by a font the page has, in a real
headless Chromium with Debian's fonts: a character no font holds shows as an empty box (the
pause button's U+23F8 did)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

# For each element: its text and the characters of it drawn as the font's "missing" box,
# found by drawing each on a canvas in the element's own font next to an unassigned code point.
MISSING_JS = """(elements) => elements.map((element) => {
  const font = getComputedStyle(element).font;
  const canvas = document.createElement("canvas");
  canvas.width = 48;
  canvas.height = 48;
  const context = canvas.getContext("2d");
  const draw = (text) => {
    context.clearRect(0, 0, 48, 48);
    context.font = font;
    context.fillText(text, 6, 32);
    return Array.from(context.getImageData(0, 0, 48, 48).data).join();
  };
  const missing = draw("\\u0378");
  const text = element.textContent || "";
  return [text, [...text].filter((c) => c.trim() !== "" && draw(c) === missing)];
})"""


def test_buttons_and_tabs_draw_every_sign(app_page: Any):
    page = app_page.page
    page.locator(".wb-pause").first.wait_for()  # the viewer's player is on the page
    drawn = page.locator("button, .bk-tab").evaluate_all(MISSING_JS)
    texts = [text for text, _ in drawn]
    assert any("frame" in text for text in texts), texts  # the player's steps were looked at
    assert len(drawn) > 20, texts
    assert [(text, gone) for text, gone in drawn if gone] == []
