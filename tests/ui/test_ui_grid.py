"""The grid component: each page goes to the browser as one JSON string, once per change."""

import json
from typing import Any

import panel as pn
import pytest
from bokeh.document import Document

from workbench.store.catalog import Catalog
from workbench.ui.grid import NOTHING_MATCHES, QUERY_FAILED, GridPage, GridView, TileGrid
from workbench.ui.state import WorkbenchState


@pytest.fixture(scope="module")
def catalog(read_only_catalogs: Any) -> Catalog:
    # 4 contexts of 5 frames, a 3-frame group and 100 single-frame "snow" contexts: 3 pages
    return read_only_catalogs("ui-many")


@pytest.fixture
def view(state: WorkbenchState) -> GridView:
    return GridView(state)


def sent_pages(grid: TileGrid) -> list[dict[str, Any]]:
    """Every page the grid sends from now on, as grid.js parses it."""
    sent: list[dict[str, Any]] = []
    grid.param.watch(lambda event: sent.append(json.loads(event.new)), ["page_json"])
    return sent


def ids(page: dict[str, Any]) -> list[str]:
    return [tile["id"] for tile in page["tiles"]]


def test_the_page_is_one_json_string_with_every_tile(view: GridView):
    state = view.state
    page = json.loads(view.grid.page_json)
    assert (page["mode"], page["page"], page["total"]) == ("contexts", 0, 105)
    assert page["empty_text"] == NOTHING_MATCHES
    assert len(page["tiles"]) == 48
    # the tiles as the state built them, ROI rings and badges included
    assert page["tiles"] == json.loads(json.dumps(state.tiles))
    first = page["tiles"][0]
    assert first["id"] == "ctx-0"
    assert {roi["k"] for roi in first["rois"]} == {"poly", "line", "pt"}
    assert view.grid.tiles is state.tiles


def test_each_change_sends_the_page_once(view: GridView):
    state = view.state
    sent = sent_pages(view.grid)

    state.next_page()
    assert len(sent) == 1
    assert sent[0]["page"] == 1 and ids(sent[0]) == [t["id"] for t in state.tiles]

    # A new query goes back to page 0: the grid gets the new tiles with it, never the old
    # tiles at page 0 first.
    state.query.where = "f.weather = 'snow'"
    assert len(sent) == 2
    assert (sent[1]["page"], sent[1]["total"]) == (0, 100)
    assert ids(sent[1])[:2] == ["many-000", "many-001"]

    state.mode = "frames"
    assert len(sent) == 3
    assert sent[2]["mode"] == "frames"
    assert {t["kind"] for t in sent[2]["tiles"]} == {"frame"}

    # Nothing changes on screen: nothing is sent.
    state.previous_page()
    state.refresh(query_changed=False)
    assert len(sent) == 3


def test_selecting_does_not_resend_the_page(view: GridView):
    sent = sent_pages(view.grid)
    view.grid._handle_msg({"event": "click", "id": "ctx-2"})
    view.grid._handle_msg({"event": "click", "id": "ctx-3", "ctrl": True})
    assert view.grid.selected == ["ctx-2", "ctx-3"]
    assert view.grid.active == "ctx-2"
    assert sent == []


def test_a_failed_query_shows_why_the_grid_is_empty(view: GridView):
    view.state.query.where = "no_such_column = 1"
    page = json.loads(view.grid.page_json)
    assert (page["tiles"], page["total"], page["empty_text"]) == ([], 0, QUERY_FAILED)
    view.state.query.where = "f.weather = 'hail'"
    page = json.loads(view.grid.page_json)
    assert (page["tiles"], page["total"], page["empty_text"]) == ([], 0, NOTHING_MATCHES)
    assert view.page_label.text == "page 1 / 1 · 0 contexts"
    assert view.next_page.disabled and view.prev_page.disabled


def test_set_page_sends_only_what_changed():
    grid = TileGrid()
    assert json.loads(grid.page_json) == {
        "mode": "contexts",
        "page": 0,
        "total": 0,
        "empty_text": NOTHING_MATCHES,
        "tiles": [],
    }
    sent = sent_pages(grid)
    tile = {"id": "ctx/ä", "title": 'Zürich <b>"rain"</b>', "rois": [], "width": 4}
    assert grid.set_page(GridPage(tiles=[tile], total=1)) is True
    # an equal page (a new list with the same tiles) is not sent again
    assert grid.set_page(GridPage(tiles=[dict(tile)], total=1)) is False
    assert grid.set_page(GridPage(tiles=[tile], total=1, page=1)) is True
    assert [page["page"] for page in sent] == [0, 1]
    # text stays as it is (grid.js escapes it when drawing); no ASCII escapes
    assert 'Zürich <b>\\"rain\\"</b>' in grid.page_json
    assert sent[0]["tiles"] == [tile]


def test_the_rendered_model_holds_the_page_as_a_string(view: GridView):
    root = pn.panel(view).get_root(Document())
    (model,) = [
        m for m in root.references() if "wb-grid" in (getattr(m, "css_classes", None) or [])
    ]
    assert isinstance(model.data.page_json, str)
    assert not hasattr(model.data, "tiles")
    assert ids(json.loads(model.data.page_json)) == [t["id"] for t in view.state.tiles]
    # a page change reaches the rendered model
    view.state.next_page()
    assert json.loads(model.data.page_json)["page"] == 1


def test_a_clone_shows_the_same_page():
    grid = TileGrid(GridPage(tiles=[{"id": "ctx-0", "title": "ctx-0"}], total=7, page=0))
    clone = grid.clone()
    assert clone.page_json == grid.page_json
    assert clone.page == grid.page
    assert [t["id"] for t in clone.tiles] == ["ctx-0"]
