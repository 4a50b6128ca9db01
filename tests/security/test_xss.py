"""Stored XSS: every value from data is shown as text, on every surface of the served app.

The catalog (tests/security/xss_catalog.py) carries a payload in every data-derived field,
imported through the real importers and written through the real service; a real `workbench
serve` serves it and headless Chromium visits each surface. The pages are opened with
`bypass_csp=True`: the Content-Security-Policy would block most payloads anyway, and these
tests check the first line of defence alone (tests/security/test_xss_csp.py checks the CSP).
After each surface: no payload ran, none became markup, and the values are on screen as the
literal text they are (so a value that vanished fails too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from . import xss_catalog as x
from .xss_page import (
    IDLE_JS,
    assert_clean,
    click_button,
    hover_until,
    idle,
    tile,
    wait_shown,
)

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> x.XssCatalog:
    return x.build_xss_catalog(tmp_path_factory.mktemp("xss"))


@pytest.fixture(scope="module")
def server(prepared: x.XssCatalog, serve_catalog: Any) -> Any:
    return serve_catalog(prepared.path)


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 1300}, bypass_csp=True)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        tab.goto(server.url, wait_until="load")
        tab.wait_for_function(IDLE_JS)
        tab.wait_for_selector("div.wb-grid-root .wb-tile")
        yield tab
        assert tab.evaluate("window.__xss") is None
        assert errors == []
    finally:
        context.close()


def open_tile(page: Any, tile_id: str) -> None:
    tile(page, tile_id).click()
    idle(page)


def open_choices(page: Any, css: str) -> None:
    """Open a MultiChoice's dropdown (Choices.js) so its options are on screen."""
    page.locator(f".{css} input").first.click()
    page.wait_for_timeout(200)


def test_page_load_facets_and_label_counts(page: Any):
    """The finding: facet options are labels and metadata values, on screen at once."""
    wait_shown(page, x.LABEL)  # the label bars
    assert_clean(page, x.LABEL, x.POLY_LABEL, x.BADGE, x.COCO_LABEL)
    for css, values in (
        ("wb-labels", [x.LABEL, x.POLY_LABEL, x.BADGE, x.PRED_LABEL, x.COCO_LABEL]),
        ("wb-meta-weather", [x.WEATHER]),
        ("wb-meta-time_of_day", [x.TIME_OF_DAY]),
        ("wb-meta-camera", [x.CAMERA]),
        ("wb-meta-location", [x.LOCATION]),
        ("wb-tags", [x.TAG]),
    ):
        open_choices(page, css)
        assert_clean(page, *(f"{value} (" for value in values))
        page.keyboard.press("Escape")
    # a chosen option is drawn as an item of the widget, and filters
    open_choices(page, "wb-labels")
    page.locator(".wb-labels .choices__item--choice", has_text="L<img").first.click()
    wait_shown(page, "3 contexts match")
    assert_clean(page, f"{x.LABEL} (")
    # the label field picker lists the fields
    options = page.locator(".wb-query-panel select, select").all_inner_texts()
    assert any(x.FIELD in text for text in options)


def test_grid_viewer_hover_and_player(page: Any):
    seen = assert_clean(page, x.C1, where="titles")
    assert x.C1 in seen["text"] and x.PICTURE in seen["text"]  # tile titles
    open_tile(page, x.C1)
    wait_shown(page, f"frame 1 / 3 · {x.FRAMES[0]}")
    # badges, field toggles and the source's title (text above the picture); the badges may be
    # drawn after the frame's label
    wait_shown(page, x.FIELD, where="titles")
    seen = assert_clean(page, x.BADGE, x.FIELD)
    assert x.FIELD in seen["titles"]  # a badge's tooltip is its field
    assert x.SOURCE in seen["text"]  # the source's title, as text
    # hover over the box: its label, field and attributes in the tooltip
    hover_until(page, ".wb-viewer-plot", x.LABEL)
    assert_clean(page, x.LABEL, f"{x.ATTR_KEY}={x.ATTR_VALUE}")
    # the player: next frame, and the timeline's tooltip
    click_button(page, ".wb-next")
    wait_shown(page, f"frame 2 / 3 · {x.FRAMES[1]}")
    hover_until(page, ".wb-timeline", x.FRAMES[0][:10])
    assert_clean(page, x.FRAMES[1])


def test_frames_mode(page: Any):
    page.locator(".wb-grid-mode button", has_text="frames").click()
    idle(page)
    wait_shown(page, x.F2)
    seen = assert_clean(page, x.F2, x.COCO_FRAME, *x.FRAMES, x.C1)
    assert x.PICTURE in seen["text"]  # a frame's context line: its picture's path
    open_tile(page, x.COCO_FRAME)
    wait_shown(page, f"frame 1 / 1 · {x.COCO_FRAME}")
    assert_clean(page, x.COCO_FRAME)


def test_tags_and_saved_views(page: Any):
    expect(page.locator(".wb-views select")).to_be_visible()
    seen = assert_clean(page, x.VIEW)
    assert x.VIEW in seen["text"]
    page.locator(".wb-views select").select_option(label=x.VIEW)
    click_button(page, ".wb-open-view")
    wait_shown(page, f"opened view {x.VIEW!r}")
    assert_clean(page, f"{x.WEATHER} (")
    # tag the selection with a new payload, typed by a person
    open_tile(page, x.C1)
    typed = "g" + x.IMG
    page.locator(".wb-tag-input input").fill(typed)
    click_button(page, ".wb-tag-apply")
    wait_shown(page, f"tagged 3 frames {typed!r}")
    open_choices(page, "wb-tags")
    wait_shown(page, f"{typed} (3)")
    assert_clean(page, typed, x.TAG)
    # a saved view named by a person
    named = "n" + x.SVG
    page.locator(".wb-view-name input").fill(named)
    click_button(page, ".wb-save-view")
    wait_shown(page, f"saved view {named!r}")
    assert_clean(page, named)


def test_where_error_message(page: Any):
    page.locator(".wb-where input").fill(f'f."{x.IMG}" = 1')
    page.locator(".wb-where input").press("Enter")
    wait_shown(page, f'does not have a column named "{x.IMG}"')
    assert_clean(page, x.IMG)


def test_send_to_annotation_dialog(page: Any, prepared: x.XssCatalog):
    open_tile(page, prepared.coco_context)
    click_button(page, ".wb-send")
    dialog = page.locator(".wb-send-dialog")
    expect(dialog).to_be_visible()
    key = "r" + x.SCRIPT
    batch = "b" + x.IMG
    dialog.locator(".wb-anno-key input").fill(key)
    dialog.locator(".wb-project input").fill(x.PROJECT)
    dialog.locator(".wb-batch input").fill(batch)
    idle(page)
    # the label field is the first field, a payload; the classes are prefilled from its labels
    assert_clean(page, x.FIELD, x.PRED_LABEL, where="values")
    # the COCO frame has no label in that field: the service refuses, naming the field
    click_button(page, ".wb-send-dialog .wb-preview")
    wait_shown(page, f"label field {x.FIELD!r}: a new label field needs a label type")
    assert_clean(page)
    dialog.locator(".wb-label-type select").select_option(label="detections")
    idle(page)
    click_button(page, ".wb-send-dialog .wb-preview")
    wait_shown(page, "The dry run would create")
    assert_clean(page, key, x.PROJECT, batch, x.FIELD, x.PRED_LABEL)
    click_button(page, ".wb-send-dialog .wb-confirm")
    wait_shown(page, f"Created annotation run {key!r}")
    wait_shown(page, f"{key}")  # its row in the runs panel
    assert_clean(page, key)
    # the same key again: the service refuses, and says so with the key in its message
    click_button(page, ".wb-send-dialog .wb-cancel")
    click_button(page, ".wb-send")
    dialog.locator(".wb-anno-key input").fill(key)
    idle(page)
    click_button(page, ".wb-send-dialog .wb-preview")
    wait_shown(page, f"an annotation run {key!r} exists")
    assert_clean(page, key)


def test_invalidate_and_delete_input_dialogs(page: Any, prepared: x.XssCatalog):
    open_tile(page, prepared.uri_context)
    expect(page.locator(".wb-invalidate button")).to_be_enabled()
    click_button(page, ".wb-invalidate")
    click_button(page, ".wb-invalidate-dialog .wb-preview")
    wait_shown(page, prepared.input_uuid)
    assert_clean(page, prepared.uri_context, x.PROJECT, x.BATCH)
    click_button(page, ".wb-invalidate-dialog .wb-cancel")
    click_button(page, ".wb-delete-inputs")
    wait_shown(page, f"{x.PROJECT}/{x.BATCH}")  # the input's checkbox label
    click_button(page, ".wb-delete-dialog .wb-preview")
    wait_shown(page, "Affected inputs")
    assert_clean(page, prepared.uri_context, x.PROJECT, x.BATCH)
    click_button(page, ".wb-delete-dialog .wb-confirm")
    wait_shown(page, "Deleted: 1 input")
    assert_clean(page)


def run_row(page: Any, key: str) -> Any:
    return page.locator(".wb-run").filter(has_text=key[:6]).first


def test_runs_panel_merge_report_rename_and_delete(page: Any):
    # The run's key shows on tile badges first; the runs panel arrives after the first render.
    wait_shown(page, f"by {x.ACTOR}")
    assert_clean(page, x.RUN, x.EDIT_RUN, f"by {x.ACTOR}")
    run_row(page, x.RUN).locator(".wb-load-run button").click()
    wait_shown(page, f"Loaded {x.RUN}")
    seen = assert_clean(page, x.RUN, x.FRAMES[0], x.FIELD)
    assert "rejected" in seen["text"] and "unexpected labels" in seen["text"]
    page.locator(".wb-merge-report-dialog .wb-modal-close button").first.click()
    run_row(page, x.EDIT_RUN).locator(".wb-rename-run button").click()
    wait_shown(page, f"Rename run {x.EDIT_RUN!r} to:")
    assert_clean(page, x.EDIT_RUN, where="values")
    click_button(page, ".wb-run-dialog .wb-cancel")
    run_row(page, x.RUN).locator(".wb-delete-run button").click()
    wait_shown(page, f"Delete run {x.RUN!r}?")
    assert_clean(page, x.RUN)
    click_button(page, ".wb-run-dialog .wb-cancel")


def test_annotator(page: Any):
    wait_shown(page, x.EDIT_RUN)
    run_row(page, x.EDIT_RUN).locator(".wb-annotate-run button").click()
    wait_shown(page, f"run {x.EDIT_RUN} · task 1/1")
    seen = assert_clean(page, x.EDIT_RUN, x.FRAMES[0], x.ATTR_SELECT, x.ATTR_TEXT)
    options = "\n".join(page.locator(".wb-annotator select").all_inner_texts())
    assert x.LABEL in options and x.EXTRA_CLASS in options
    assert x.ATTR_VALUE in options and x.ATTR_OTHER in options
    assert x.ATTR_TEXT in seen["text"]
    hover_until(page, ".wb-annotator-view", x.LABEL)
    assert_clean(page, x.LABEL)
    click_button(page, ".wb-annotator-next")
    wait_shown(page, x.FRAMES[1])
    assert_clean(page, x.FRAMES[1])


def test_with_the_policy_enforced_the_payloads_cause_no_violation(browser: Any, server: Any):
    """The same data with the CSP on: escaped values make no markup, so the browser reports
    nothing (a violation here would mean a payload became an element somewhere)."""
    context = browser.new_context(viewport={"width": 1600, "height": 1300})
    page = context.new_page()
    page.add_init_script(
        "window.__violations = []; document.addEventListener('securitypolicyviolation',"
        " (e) => window.__violations.push(e.effectiveDirective + ' ' + e.sample), true);"
    )
    try:
        page.goto(server.url, wait_until="load")
        page.wait_for_function(IDLE_JS)
        page.wait_for_selector("div.wb-grid-root .wb-tile")
        open_choices(page, "wb-labels")
        open_tile(page, x.C1)
        wait_shown(page, f"frame 1 / 3 · {x.FRAMES[0]}")
        hover_until(page, ".wb-viewer-plot", x.LABEL)
        wait_shown(page, x.RUN)
        assert_clean(page, x.LABEL, x.BADGE, x.RUN)
        assert page.evaluate("window.__violations") == []
    finally:
        context.close()
