"""Selecting tiles through the grid component's click messages, as the browser sends them."""

from dataclasses import asdict
from typing import Any

import pytest

from workbench.store.catalog import Catalog
from workbench.ui.grid import GridView, TileEvent
from workbench.ui.selection import Selection, click_range
from workbench.ui.state import WorkbenchState


@pytest.fixture(scope="module")
def catalog(read_only_catalogs: Any) -> Catalog:
    return read_only_catalogs("ui")  # read-only tests: one copy for the module


@pytest.fixture
def view(state: WorkbenchState) -> GridView:
    return GridView(state)


def click(view: GridView, tile_id: str, **keys: bool) -> None:
    """What grid.js sends for a click on a tile."""
    view.grid._handle_msg({"event": "click", "id": tile_id, **keys})


def frames_of(*contexts: str, n: int = 5) -> tuple[str, ...]:
    return tuple(f"{c}/f{i}" for c in contexts for i in range(n))


def test_plain_click_selects_one_context_with_its_matching_frames(view: GridView):
    view.state.query.where = "f.weather = 'rain'"
    click(view, "ctx-2")
    selection = view.state.selection
    assert selection.context_ids == ("ctx-2",)
    assert selection.frame_ids == ("ctx-2/f0", "ctx-2/f2", "ctx-2/f4")
    assert selection.count == 3
    assert view.grid.selected == ["ctx-2"]
    assert view.count.object == "3 frames in 1 context selected"
    # a plain click also opens the context in the viewer
    assert view.state.context.context_id == "ctx-2"
    assert view.grid.active == "ctx-2"
    click(view, "ctx-0")
    assert view.state.selection.context_ids == ("ctx-0",)


def test_shift_click_selects_the_range_and_ctrl_toggles(view: GridView):
    click(view, "ctx-1")
    click(view, "ctx-3", shift=True)
    assert view.state.selection.context_ids == ("ctx-1", "ctx-2", "ctx-3")
    assert view.state.selection.frame_ids == frames_of("ctx-1", "ctx-2", "ctx-3")
    assert view.grid.selected == ["ctx-1", "ctx-2", "ctx-3"]
    click(view, "ctx-2", ctrl=True)
    assert view.state.selection.context_ids == ("ctx-1", "ctx-3")
    click(view, "ctx-group", ctrl=True)
    assert view.state.selection.context_ids == ("ctx-1", "ctx-3", "ctx-group")
    assert view.state.selection.count == 13
    # shift from the last clicked tile (ctx-group) back to ctx-3 adds nothing new
    click(view, "ctx-3", shift=True)
    assert view.state.selection.context_ids == ("ctx-1", "ctx-3", "ctx-group")


def test_double_click_opens_without_selecting(view: GridView):
    view.grid._handle_msg({"event": "open", "id": "ctx-group"})
    assert view.state.context.context_id == "ctx-group"
    assert not view.state.selection


def test_select_all_and_clear(view: GridView):
    view.state.query.where = "f.timestamp >= 300"
    view.select_all.clicks += 1
    selection = view.state.selection
    assert selection.context_ids == ("ctx-0", "ctx-1", "ctx-2", "ctx-3")
    assert sorted(selection.frame_ids) == sorted(f"ctx-{k}/f{i}" for k in range(4) for i in (3, 4))
    assert view.grid.selected == ["ctx-0", "ctx-1", "ctx-2", "ctx-3"]
    view.clear.clicks += 1
    assert view.state.selection == Selection()
    assert view.grid.selected == []
    assert view.count.object == "nothing selected"


def test_frames_mode_selects_frames(view: GridView):
    view.state.mode = "frames"
    click(view, "ctx-0/f1")
    click(view, "ctx-0/f3", shift=True)
    assert view.state.selection.frame_ids == ("ctx-0/f1", "ctx-0/f2", "ctx-0/f3")
    assert view.state.selection.context_ids == ("ctx-0",)
    assert view.grid.selected == ["ctx-0/f1", "ctx-0/f2", "ctx-0/f3"]
    assert view.state.context.frame_id == "ctx-0/f1"  # the plain click opened that frame
    # frames picked in frames mode stay selected in contexts mode (no whole context is)
    view.state.mode = "contexts"
    assert view.state.selection.count == 3
    assert view.grid.selected == []


def test_selection_survives_a_new_query(view: GridView):
    click(view, "ctx-0")
    view.state.query.where = "f.context_id = 'ctx-group'"
    assert view.state.selection.context_ids == ("ctx-0",)
    assert view.grid.selected == []


def test_selection_value_and_json_shape():
    selection = Selection(frame_ids=("a", "b"), context_ids=("c",))
    assert selection.count == 2
    assert asdict(selection) == {
        "frame_ids": ("a", "b"),
        "context_ids": ("c",),
        "scene_uuids": (),
        "count": 2,
    }
    with pytest.raises(AttributeError):
        selection.frame_ids = ()  # type: ignore[misc]


def test_click_range():
    order = ["a", "b", "c", "d"]
    assert click_range(order, "b", "d") == ["b", "c", "d"]
    assert click_range(order, "d", "b") == ["b", "c", "d"]
    assert click_range(order, None, "c") == ["c"]
    assert click_range(order, "z", "c") == ["c"]


def test_malformed_messages_are_ignored(view: GridView):
    view.grid._handle_msg({"event": "click"})
    view.grid._handle_msg("nonsense")
    assert not view.state.selection
    assert TileEvent("x").open is False
