"""The whole app as Panel renders it: entry points, DOM hooks, start-up state."""

import json
from pathlib import Path
from typing import Any

import panel as pn
import pytest
from bokeh.document import Document

from workbench.store.catalog import Catalog
from workbench.ui.app import WorkbenchApp, create_app
from workbench.ui.grid import TileGrid
from workbench.ui.media import ServedMediaUrls
from workbench.ui.runs import PendingRunAction
from workbench.ui.selection import Selection

HOOKS = {
    "wb-where", "wb-apply", "wb-query-error", "wb-grid", "wb-selection-count", "wb-viewer",
    "wb-next", "wb-prev", "wb-frame-label", "wb-fields", "wb-pager",
    "wb-page-next", "wb-page-prev", "wb-page-label", "wb-grid-mode", "wb-select-all",
    "wb-clear-selection", "wb-player", "wb-timeline", "wb-tag-input",
    "wb-tag-apply", "wb-view-name", "wb-save-view", "wb-views", "wb-open-view", "wb-busy",
}  # fmt: skip


@pytest.fixture(scope="module")
def catalog(read_only_catalogs: Any) -> Catalog:
    return read_only_catalogs("ui")  # read-only tests: one copy for the module


def css_classes(root) -> set[str]:
    found: set[str] = set()
    for model in root.references():
        found.update(getattr(model, "css_classes", None) or [])
    return found


def test_app_renders_with_every_dom_hook(catalog: Catalog):
    app = create_app(catalog, ServedMediaUrls())
    assert isinstance(app, WorkbenchApp)
    root = pn.panel(app).get_root(Document())
    missing = HOOKS - css_classes(root)
    assert not missing, f"DOM hooks missing from the rendered app: {sorted(missing)}"
    # the grid is one component holding every tile as data
    grids = [m for m in root.references() if "wb-grid" in (getattr(m, "css_classes", None) or [])]
    assert len(grids) == 1
    (tile_grid,) = [g for g in app.grid.__panel__().select(TileGrid)]
    assert [t["id"] for t in tile_grid.tiles] == ["ctx-0", "ctx-1", "ctx-2", "ctx-3", "ctx-group"]


def test_app_starts_with_the_first_tile_open_and_nothing_selected(catalog: Catalog):
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    assert app.state.context.context_id == "ctx-0"
    assert app.player.label.text == "frame 1 / 5 · ctx-0/f0"
    assert app.grid.grid.active == "ctx-0"
    assert app.selection == Selection()
    app.grid.grid._handle_msg({"event": "click", "id": "ctx-3"})
    assert app.selection.context_ids == ("ctx-3",)
    assert app.selection is app.state.selection


def test_two_sessions_do_not_share_state(catalog: Catalog):
    one = create_app(catalog, ServedMediaUrls())
    two = create_app(catalog, ServedMediaUrls())
    one.state.query.where = "f.context_id = 'ctx-1'"
    one.grid.grid._handle_msg({"event": "click", "id": "ctx-1"})
    assert two.state.total == 5
    assert two.selection == Selection()
    assert two.viewer.canvas is not one.viewer.canvas


def test_servable_and_ipywidget(catalog: Catalog):
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    assert isinstance(app.servable(), pn.viewable.Viewable)
    pytest.importorskip("jupyter_bokeh")
    widget = app.ipywidget()
    # A note saying what to install (workbench/ui/notebook.py), then the app's Bokeh widget.
    note, model = widget.children
    assert "jupyter_bokeh" in note.value
    assert type(model).__name__ == "BokehModel"


def test_empty_catalog(tmp_path: Path):
    import workbench

    with workbench.open(tmp_path / "empty.duckdb") as catalog:
        app = WorkbenchApp(catalog, media=ServedMediaUrls())
        assert app.state.tiles == [] and app.state.total == 0
        assert app.state.context.context_id is None
        assert app.viewer.placeholder.visible
        assert app.player.label.text == "no frame"
        pn.panel(app).get_root(Document())


def test_the_app_can_be_shown_twice_and_both_follow(catalog: Catalog):
    """A notebook shows the app in a new document each time it is displayed."""
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    first = pn.panel(app).get_root(Document())
    second = pn.panel(app).get_root(Document())
    assert css_classes(first) >= {"wb-viewer", "wb-timeline", "wb-confidence-histogram"}
    assert css_classes(second) >= {"wb-viewer", "wb-timeline", "wb-confidence-histogram"}
    app.state.context.step(1)
    frames = [
        json.loads(m.data.frame_json)
        for root in (first, second)
        for m in root.references()
        if "wb-viewer" in (getattr(m, "css_classes", None) or []) and hasattr(m, "data")
    ]
    assert len(frames) == 2
    assert all(f["sources"][0]["url"].endswith("ctx-0%2Ff1.jpg") for f in frames)
    pytest.importorskip("jupyter_bokeh")
    app.ipywidget()  # a third document


def test_keys_pressed_once_step_once_however_many_renderings_listen(catalog: Catalog):
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    assert app.state.context.index == 0
    for _ in range(2):  # two renderings receive the same key event
        app.player.keys._handle_msg({"key": "ArrowRight", "shift": False, "at": 1234.5})
    assert app.state.context.index == 1


def test_hidden_parts_are_built_in_the_page_when_first_shown(catalog: Catalog):
    """The runs panel's confirmation, the saved view's delete confirmation and the folded
    Numbers card's ranges have no models in the page until they are first shown."""
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    layout = pn.panel(app)
    root = layout.get_root(Document())
    hidden = {"wb-run-dialog", "wb-confirm-delete-view", "wb-cancel-delete-view", "wb-ranges"}
    assert not hidden & css_classes(root)
    assert {"wb-runs", "wb-save-view", "wb-reset"} <= css_classes(root)  # their panels are
    app.actions.deleting.value = "a view"  # what "Delete view" sets, asking for a yes
    assert {"wb-confirm-delete-view", "wb-cancel-delete-view"} <= css_classes(root)
    app.runs.pending = PendingRunAction("delete", "run-1", "Delete run-1?")
    assert "wb-run-dialog" in css_classes(root)
    (numbers,) = [c for c in layout.select(pn.Card) if c.title == "Numbers"]
    assert numbers.collapsed and "wb-ranges" not in css_classes(root)
    numbers.collapsed = False  # unfolded in the page
    assert "wb-ranges" in css_classes(root)
    # once built they stay: hiding them again keeps their models
    app.actions.deleting.value = ""
    assert "wb-confirm-delete-view" in css_classes(root)
