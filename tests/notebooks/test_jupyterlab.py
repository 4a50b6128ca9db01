"""The quickstart notebook in a real JupyterLab 4 and Notebook 7, in headless Chromium.

JupyterLab runs from its own virtualenv (`.ci/jupyterlab-venv`), the kernel in the workbench
environment: another environment than JupyterLab's, as in most shared installations. With
Panel's front-end pieces installed there (pyviz_comms, jupyter_bokeh) the inline app and its
ipywidget answer clicks and Python reads the selection back; without them, each output says
what to install. In every case no request leaves loopback: the machine is offline.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from .labserver import BARE_LAB_VENV, LAB_VENV, REPO, Lab, start_lab
from .notebook_page import TIMEOUT_MS, NotebookPage, outside_loopback

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=60_000)

QUICKSTART = REPO / "notebooks" / "quickstart.ipynb"
APP_CELL = "app = catalog.app()"
TILES = ".wb-grid-root .wb-tile"
NOTE = ".wb-notebook-note"
# JupyterLab beside its file browser, in a 1000 px wide window.
VIEWPORT = {"width": 1000, "height": 1000}


def _lab(venv: Path, home: Path) -> Iterator[Lab]:
    if not (venv / "bin" / "jupyter-lab").exists():
        pytest.skip(f"no JupyterLab at {venv} (run .ci/jupyterlab-venv)")
    lab = start_lab(venv, home, [QUICKSTART])
    try:
        yield lab
    finally:
        lab.stop()
        shutil.copyfile(lab.log_path, home.parent / f"{home.name}.log")


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _lab(LAB_VENV, tmp_path_factory.mktemp("lab-ext"))


@pytest.fixture(scope="module")
def bare_lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from _lab(BARE_LAB_VENV, tmp_path_factory.mktemp("lab-bare"))


@pytest.fixture
def lab(lab_server: Lab) -> Iterator[Lab]:
    """JupyterLab with pyviz_comms and jupyter_bokeh installed beside it."""
    yield lab_server
    lab_server.reset()


@pytest.fixture
def bare_lab(bare_lab_server: Lab) -> Iterator[Lab]:
    """JupyterLab without Panel's front-end pieces."""
    yield bare_lab_server
    bare_lab_server.reset()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context
    finally:
        context.close()


def open_quickstart(context: Any, url: str) -> NotebookPage:
    """Open the quickstart and run all its cells from the Run menu."""
    notebook = NotebookPage.open(context, url)
    seconds = notebook.run_all()
    print(f"quickstart: every cell ran in {seconds:.1f} s")
    assert notebook.tracebacks() == []
    return notebook


def wait_connected(cell: Any, notebook: NotebookPage) -> None:
    """Wait until the cell's app is drawn and its note gone: the kernel heard the browser."""
    expect(cell.locator(TILES).first).to_be_visible()
    try:
        expect(cell.locator(NOTE)).to_be_hidden()
    except AssertionError:
        print("\n".join(notebook.console), notebook.errors)
        raise


def connected_after_run_all(cell: Any, notebook: NotebookPage) -> None:
    """After Run All the app usually connects too; now and then, on a loaded machine, Panel's
    comm never opens (the note then rightly stays, saying to run the cell again). The tests
    assert the connection after running the cell itself; here they only report it."""
    try:
        wait_connected(cell, notebook)
    except AssertionError:
        print("after Run All the app did not connect; the note stays visible")


def tile_id(tile: Any) -> str:
    return str(tile.get_attribute("data-context-id") or tile.get_attribute("data-frame-id"))


def browse(cell: Any) -> list[str]:
    """Open the first tile, step a frame, add the third tile to the selection: the ids of the
    selected tiles."""
    tiles = cell.locator(TILES)
    first, third = tiles.nth(0), tiles.nth(2)
    label = cell.locator(".wb-frame-label").first
    first.click()
    expect(first).to_have_class(re.compile(r"\bwb-selected\b"))
    expect(label).to_contain_text(re.compile(rf"frame 1 / \d+ · {re.escape(tile_id(first))}"))
    cell.locator(".wb-next button").first.click()
    expect(label).to_contain_text(re.compile(r"frame 2 / \d+"))
    # the viewer drew that frame (its picture inline, as a data URI)
    drawn = cell.locator(".wb-frame-root").first
    expect(drawn).to_have_attribute("data-frame", re.compile(r".+/.+"))
    expect(cell.locator(".wb-viewer-plot canvas").first).to_be_visible()
    third.click(modifiers=["Control"])
    expect(third).to_have_class(re.compile(r"\bwb-selected\b"))
    return [tile_id(first), tile_id(third)]


def assert_selection_printed(printed: str, context_ids: list[str]) -> None:
    assert re.match(r"Selection\(\d+ frames \[", printed), printed
    assert f"{len(context_ids)} contexts [" in printed
    for context_id in context_ids:
        assert repr(context_id) in printed
    assert len(printed) < 400  # the repr stays short


def assert_fits(notebook: NotebookPage, cell: Any) -> None:
    """The app fits its output area: its box is inside, and nothing reaches past it."""
    area = cell.locator(".jp-OutputArea").first
    app = cell.locator(".jp-OutputArea-output").filter(has=notebook.page.locator(TILES)).first
    outer, inner = area.bounding_box(), app.bounding_box()
    assert inner["x"] >= outer["x"] - 1
    assert inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
    assert notebook.overflow(area) == []


def assert_offline(notebook: NotebookPage) -> None:
    """No request left loopback (this machine is offline: each would have failed)."""
    external = outside_loopback(notebook.requests)
    assert external == [], "\n".join(sorted(set(external)))


def test_quickstart_app_and_ipywidget_in_jupyterlab(lab: Lab, context: Any):
    notebook = open_quickstart(context, lab.lab_url("quickstart.ipynb"))
    page = notebook.page
    cell = notebook.code_cell(APP_CELL)
    connected_after_run_all(cell, notebook)

    # Run again on its own, timed: from Shift+Enter until the cell has run, then until the
    # app answers (drawn, and the kernel got the browser's ping).
    ran = notebook.run_cell(cell)
    started = page.evaluate("() => performance.now()")
    wait_connected(cell, notebook)
    interactive = (page.evaluate("() => performance.now()") - started) / 1000
    print(f"JupyterLab app cell: ran in {ran:.2f} s, interactive {interactive:.2f} s after")
    assert interactive < 10

    cell.scroll_into_view_if_needed()
    assert_fits(notebook, cell)
    notebook.screenshot("jupyterlab-app", page.locator(".jp-NotebookPanel").first)

    selected = browse(cell)
    notebook.screenshot("jupyterlab-app-browsed", page.locator(".jp-NotebookPanel").first)
    assert_selection_printed(notebook.print_in_new_cell("app.selection"), selected)

    # The same app as an ipywidget: a second copy of the same state.
    widget_cell = notebook.add_cell("widget = app.ipywidget()\nwidget")
    wait_connected(widget_cell, notebook)
    widget_cell.scroll_into_view_if_needed()
    assert_fits(notebook, widget_cell)
    tiles = widget_cell.locator(TILES)
    expect(tiles.nth(1)).to_be_visible()
    tiles.nth(1).click()
    chosen = tile_id(tiles.nth(1))
    expect(tiles.nth(1)).to_have_class(re.compile(r"\bwb-selected\b"))
    # Both copies follow the state: the inline copy shows the widget's click.
    inline_tile = cell.locator(f'{TILES}[data-context-id="{chosen}"]')
    expect(inline_tile).to_have_class(re.compile(r"\bwb-selected\b"))
    notebook.screenshot("jupyterlab-ipywidget")
    printed = notebook.print_in_new_cell("app.selection")
    assert_selection_printed(printed, [chosen])
    assert notebook.print_in_new_cell("widget.connected") == "True"

    assert_offline(notebook)
    assert notebook.errors == []


def test_jupyterlab_without_panel_extension_says_what_to_install(bare_lab: Lab, context: Any):
    notebook = open_quickstart(context, bare_lab.lab_url("quickstart.ipynb"))
    cell = notebook.code_cell(APP_CELL)
    expect(cell.locator(TILES).first).to_be_visible()  # drawn (resources are inline)...
    note = cell.locator(NOTE)
    expect(note).to_be_visible()  # ...but not connected, and it says so
    expect(note).to_contain_text("pip install pyviz_comms")
    expect(note).to_have_attribute("data-state", "no-extension")
    note.scroll_into_view_if_needed()
    notebook.screenshot("jupyterlab-no-extension")

    # A click goes nowhere: the selection Python holds is what the notebook made it.
    before = notebook.print_in_new_cell("app.selection")
    cell.locator(TILES).nth(1).click()
    page = notebook.page
    page.wait_for_timeout(2000)
    assert notebook.print_in_new_cell("app.selection") == before
    expect(note).to_be_visible()

    widget_cell = notebook.add_cell("widget = app.ipywidget()\nwidget")
    widget_note = widget_cell.locator(NOTE)
    expect(widget_note).to_be_visible()
    expect(widget_note).to_contain_text("pip install jupyter_bokeh")
    widget_note.scroll_into_view_if_needed()
    notebook.screenshot("jupyterlab-no-extension-ipywidget")
    assert notebook.print_in_new_cell("widget.connected") == "False"

    assert_offline(notebook)


def test_quickstart_app_in_notebook7(lab: Lab, context: Any):
    tree = context.new_page()
    tree.goto(lab.tree_url(), wait_until="load")
    expect(tree.get_by_text("quickstart.ipynb").first).to_be_visible(timeout=TIMEOUT_MS)
    notebook = open_quickstart(context, lab.notebook7_url("quickstart.ipynb"))
    assert "/notebooks/" in notebook.page.url
    cell = notebook.code_cell(APP_CELL)
    connected_after_run_all(cell, notebook)
    # A new app (the notebook's later cells narrowed this one to two contexts).
    notebook.run_cell(cell)
    wait_connected(cell, notebook)
    cell.scroll_into_view_if_needed()
    assert_fits(notebook, cell)
    selected = browse(cell)
    notebook.screenshot("notebook7-app")
    assert_selection_printed(notebook.print_in_new_cell("app.selection"), selected)
    assert_offline(notebook)
