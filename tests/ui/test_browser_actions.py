"""The actions bar and the runs panel in a real headless Chromium, on a served app.

The catalog is the small UI catalog, prepared through the service before it is served (a
served file cannot be opened by a second process): ctx-1 has an annotation run with one
edited task, ctx-2 and ctx-3 each have an input in project "review", ctx-group has a run to
annotate in the app; ctx-0 is untouched.
Each test acts on its own context, so the tests do not depend on each other's order. Waits
are for Bokeh to be idle and for the visible change, never sleeps.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workbench
from workbench.backends import LocalBackend
from workbench.services import Workbench

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

IDLE_JS = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
)
# The text of every element matching a selector, shadow roots included: Panel keeps the
# content of its components in shadow roots, where textContent and a plain descendant
# selector do not look. Each space-separated part of the selector is looked for inside the
# elements the previous part found.
TEXTS_JS = """(selector) => {
  const deepAll = (start, part) => {
    const roots = [start];
    if (start.shadowRoot) roots.push(start.shadowRoot);
    const found = [];
    while (roots.length) {
      const root = roots.pop();
      found.push(...root.querySelectorAll(part));
      for (const el of root.querySelectorAll('*')) if (el.shadowRoot) roots.push(el.shadowRoot);
    }
    return found;
  };
  let found = [document];
  for (const part of selector.trim().split(/\\s+/)) {
    found = [...new Set(found.flatMap((el) => deepAll(el, part)))];
  }
  const deep = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return '';
    let text = node.shadowRoot ? deep(node.shadowRoot) : '';
    for (const child of node.childNodes) text += deep(child);
    return text;
  };
  return found.map((el) => deep(el).replace(/\\s+/g, ' ').trim());
}"""


@dataclasses.dataclass(frozen=True)
class Prepared:
    path: Path
    inputs: dict[str, str]  # context id -> the uuid of its input in project "review"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, catalog_templates: Any) -> Prepared:
    folder = tmp_path_factory.mktemp("browser-actions")
    catalog = catalog_templates.open("ui", folder)
    try:
        wb = Workbench(catalog, actor="setup", backends={"local": LocalBackend()})
        wb.annotate(
            [f"ctx-1/f{i}" for i in range(5)], "prepared", label_field="ground_truth",
            label_type="detections", classes=["car", "truck"],
        )  # fmt: skip
        (task,) = wb.list_tasks("prepared")
        shapes = wb.get_task_annotations(task.task_id)
        shapes[0] = dataclasses.replace(shapes[0], label="truck")
        wb.save_task_annotations(task.task_id, shapes)
        wb.complete_task(task.task_id)
        wb.annotate(
            [f"ctx-group/f{i}" for i in range(3)], "group-boxes", label_field="ground_truth",
            label_type="detections", classes=["car", "truck"], media_field="front",
        )  # fmt: skip
        wb.create_project("review")
        wb.create_batch("review")
        inputs = {}
        for context in ("ctx-2", "ctx-3"):
            (scene,) = wb.create_scenes_from_contexts([context])
            (placed,) = wb.create_inputs_from_scenes("review", scene_uuids=[scene.uuid])
            inputs[context] = placed.uuid
    finally:
        catalog.close()
    return Prepared(folder / "ui.duckdb", inputs)


@pytest.fixture(scope="module")
def server(prepared: Prepared, serve_catalog: Any) -> Any:
    return serve_catalog(prepared.path)


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(server.url, wait_until="load")
        tab.wait_for_function(IDLE_JS)
        yield tab
        assert errors == []
    finally:
        context.close()


def idle(page: Any) -> None:
    page.wait_for_function(IDLE_JS)


def select_context(page: Any, context_id: str) -> None:
    tile = page.locator(f'div.wb-grid-root .wb-tile[data-context-id="{context_id}"]')
    tile.click()
    expect(tile).to_have_class(re.compile("wb-selected"))
    idle(page)


def texts(page: Any, selector: str) -> list[str]:
    return page.evaluate(TEXTS_JS, selector)


def wait_for_text(page: Any, selector: str, text: str) -> str:
    """Wait until an element matching `selector` shows `text`; return its whole text."""
    page.wait_for_function(
        f"([selector, text]) => ({TEXTS_JS})(selector).some((t) => t.includes(text))",
        arg=[selector, text],
    )
    idle(page)
    return next(t for t in texts(page, selector) if text in t)


def click(page: Any, selector: str) -> None:
    page.locator(f"{selector} button").first.click()
    idle(page)


def test_tags_and_saved_views_go_through_the_service(page: Any, server: Any):
    select_context(page, "ctx-0")
    page.locator(".wb-tag-input input").fill("from-the-browser")
    click(page, ".wb-tag-apply")
    wait_for_text(page, ".wb-message", "tagged 5 frames 'from-the-browser'")
    page.locator(".wb-view-name input").fill("browser view")
    click(page, ".wb-save-view")
    wait_for_text(page, ".wb-message", "saved view 'browser view'")
    expect(page.locator(".wb-views select option", has_text="browser view")).to_have_count(1)
    # The served catalog is open in the server: its audit log is read over the API.
    with workbench.connect(server.url) as client:
        (tagged,) = client.audit_log(action="tag_frames", limit=1)
        assert (tagged.count, tagged.outcome) == (5, "ok")
        assert tagged.target is not None and tagged.target["tag"] == "from-the-browser"
        (saved,) = client.audit_log(action="save_view", limit=1)
        assert (saved.target, saved.outcome) == ({"name": "browser view"}, "ok")
        assert "browser view" in [v.name for v in client.get_saved_views()]


def test_send_to_annotation_previews_then_creates_the_run(page: Any):
    select_context(page, "ctx-0")
    expect(page.locator(".wb-send button")).to_be_enabled()
    click(page, ".wb-send")
    dialog = page.locator(".wb-send-dialog")
    expect(dialog).to_be_visible()
    dialog.locator(".wb-anno-key input").fill("from-the-browser")
    dialog.locator(".wb-label-type select").select_option(label="detections")
    dialog.locator(".wb-classes textarea").fill("car, truck")
    click(page, ".wb-send-dialog .wb-preview")

    preview = wait_for_text(page, ".wb-send-dialog .wb-action-preview", "5 frames in 1 scene")
    assert "5 labels uploaded" in preview and "classes car, truck" in preview
    click(page, ".wb-send-dialog .wb-confirm")
    wait_for_text(
        page, ".wb-send-dialog .wb-action-result", "Created annotation run 'from-the-browser'"
    )
    wait_for_text(page, ".wb-run", "from-the-browser")


def test_invalidate_lists_the_affected_inputs_then_invalidates(page: Any, prepared: Prepared):
    select_context(page, "ctx-2")
    expect(page.locator(".wb-invalidate button")).to_be_enabled()
    click(page, ".wb-invalidate")
    dialog = page.locator(".wb-invalidate-dialog")
    expect(dialog).to_be_visible()
    dialog.locator(".wb-reason button", has_text="duplicate").click()
    idle(page)
    click(page, ".wb-invalidate-dialog .wb-preview")
    preview = wait_for_text(page, ".wb-invalidate-dialog .wb-action-preview", "1 scene, 1 input")
    assert prepared.inputs["ctx-2"] in preview and "review" in preview
    click(page, ".wb-invalidate-dialog .wb-confirm")
    wait_for_text(
        page, ".wb-invalidate-dialog .wb-action-result", "Invalidated (duplicate): 1 scene, 1 input"
    )
    # the scene left the selection: there is nothing more to invalidate
    expect(page.locator(".wb-invalidate button")).to_be_disabled()


def test_delete_inputs_previews_then_deletes(page: Any, prepared: Prepared):
    select_context(page, "ctx-3")
    click(page, ".wb-delete-inputs")
    expect(page.locator(".wb-delete-dialog")).to_be_visible()
    wait_for_text(page, ".wb-delete-dialog .wb-input-choice", "review/")
    click(page, ".wb-delete-dialog .wb-preview")
    wait_for_text(page, ".wb-delete-dialog .wb-action-preview", prepared.inputs["ctx-3"])
    click(page, ".wb-delete-dialog .wb-confirm")
    wait_for_text(page, ".wb-delete-dialog .wb-action-result", "Deleted: 1 input")


def test_load_annotations_shows_the_merge_report(page: Any):
    wait_for_text(page, ".wb-run", "1/1 tasks done")
    run = page.locator(".wb-run", has=page.locator("text=prepared"))
    run.locator(".wb-load-run button").click()
    report = wait_for_text(page, ".wb-merge-report", "1 changed")
    assert "ctx-1/f0" in report
    wait_for_text(page, ".wb-run", "1/1 tasks done · loaded")


def test_annotate_draws_a_box_saves_and_marks_the_task_done(page: Any):
    run = page.locator(".wb-run", has=page.locator("text=group-boxes"))
    run.locator(".wb-annotate-run button").click()
    wait_for_text(page, ".wb-annotator-status", "run group-boxes · task 1/1 (new)")
    plot = page.locator(".wb-annotator-view").first
    expect(plot).to_be_visible()
    box = plot.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6
    page.keyboard.down("Shift")  # BoxEditTool draws with shift-drag
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y + 40, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    wait_for_text(page, ".wb-annotator-status", "2 shapes · unsaved edits")
    click(page, ".wb-annotator-save")
    wait_for_text(page, ".wb-annotator-message", "saved: 1 added, 0 changed, 0 removed")
    click(page, ".wb-annotator-done")
    wait_for_text(page, ".wb-annotator-status", "(done)")
    wait_for_text(page, ".wb-run", "1/1 tasks done · not loaded")
