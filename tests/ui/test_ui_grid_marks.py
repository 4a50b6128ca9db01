"""The grid header's sort and tile size, and the marks on tiles (tags, runs, invalidated
scenes), on a fresh catalog per test (these tests write)."""

import json

from workbench.ui.grid import GridView
from workbench.ui.state import WorkbenchState


def test_sorting_and_tile_size_from_the_grid_header(state: WorkbenchState):
    view = GridView(state)
    assert view.sort.value == "" and "timestamp" in view.sort.options.values()
    assert "metadata" not in view.sort.options.values()
    state.mode = "frames"
    view.sort.value = "timestamp"
    view.sort_order.value = True
    assert (state.query.sort_by, state.query.sort_reverse) == ("timestamp", True)
    assert [t["id"] for t in state.tiles][:2] == ["ctx-0/f4", "ctx-1/f4"]
    state.query.reset()
    assert view.sort.value == "" and not view.sort_order.value
    view.tile_size.value = 240
    assert view.grid.tile_size == 240


def test_tiles_are_marked_with_tags_runs_and_invalidated_scenes(state: WorkbenchState):
    view = GridView(state)
    service = state.service
    service.tag_frames(["ctx-1/f0", "ctx-1/f1"], "review")
    service.annotate(["ctx-2/f0"], "boxes", label_field="ground_truth",
                     label_type="detections", classes=["car"])  # fmt: skip
    (scene,) = service.create_scenes_from_contexts(["ctx-3"])
    service.invalidate_scenes([scene.uuid], "duplicate", confirm=True)
    state.refresh()
    marks = json.loads(view.grid.marks_json)
    assert marks["ctx-1"] == [{"t": "#review 2", "k": "tag"}]
    assert marks["ctx-3"] == [{"t": "duplicate", "k": "invalid"}]
    assert "ctx-0" not in marks
    state.mode = "frames"
    marks = state.tile_marks
    assert marks["ctx-1/f0"] == [{"t": "#review", "k": "tag"}]
    assert marks["ctx-2/f0"] == [{"t": "run boxes", "k": "run"}]
