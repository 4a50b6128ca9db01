"""The frame viewer and the player: opening a context, stepping, fields, frame groups."""

from typing import Any

import pytest
from bokeh.models import GlyphRenderer, ImageURL, Range1d

from workbench.store.catalog import Catalog
from workbench.ui.grid import TileEvent
from workbench.ui.media import ServedMediaUrls
from workbench.ui.player import MATCH_COLOR, OTHER_COLOR, PlayerView
from workbench.ui.state import WorkbenchState
from workbench.ui.viewer import FrameViewer


@pytest.fixture(scope="module")
def catalog(read_only_catalogs: Any) -> Catalog:
    return read_only_catalogs("ui")  # read-only tests: one copy for the module


def test_viewer_draws_the_picture_with_image_url_under_the_rois(state: WorkbenchState):
    viewer = FrameViewer(state)
    assert viewer.plots == []
    assert viewer.placeholder.visible
    state.open_tile("ctx-2")
    (plot,) = viewer.plots
    fig = plot.figure
    glyphs = [r.glyph for r in fig.renderers if isinstance(r, GlyphRenderer)]
    assert isinstance(glyphs[0], ImageURL)  # the picture is drawn first, under everything
    assert plot.image.data["url"] == [ServedMediaUrls().image(str(_uri(state, "ctx-2/f0")))]
    assert (plot.image.data["w"], plot.image.data["h"]) == ([64], [48])
    # pixel coordinates with y pointing down
    assert isinstance(fig.y_range, Range1d)
    assert (fig.y_range.start, fig.y_range.end) == (48, 0)
    assert (fig.x_range.start, fig.x_range.end) == (0, 64)
    assert "wb-viewer-plot" in fig.css_classes
    assert sorted(plot.shapes.data["label"]) == ["car", "car", "person"]
    assert plot.lines.data["label"] == ["lane"]
    assert plot.points.data["label"] == ["nose", "nose"]
    assert "occluded=true" in plot.shapes.data["attributes"]
    assert "night 0.80" in viewer.badges.object
    tools = {type(t).__name__ for t in fig.tools}
    assert {"PanTool", "WheelZoomTool", "ResetTool", "HoverTool"} <= tools
    assert not viewer.placeholder.visible


def _uri(state: WorkbenchState, frame_id: str) -> str:
    page = state.catalog.view().select([frame_id]).page(0, 1).to_pylist()
    return page[0]["sources"][0]["uri"]


def test_stepping_updates_sources_in_place(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.open_tile("ctx-1")
    plot = viewer.plots[0]
    figure, image_source, shape_source = plot.figure, plot.image, plot.shapes
    before = plot.shapes.data["confidence"]
    state.context.step(1)
    assert state.context.frame_id == "ctx-1/f1"
    assert viewer.plots[0] is plot and plot.figure is figure
    assert plot.image is image_source and plot.shapes is shape_source
    assert plot.image.data["url"][0].endswith("ctx-1%2Ff1.jpg")
    assert plot.shapes.data["confidence"] != before
    assert "0.300" in plot.shapes.data["confidence"]


def test_field_toggles_hide_a_label_field(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.open_tile("ctx-0")
    assert viewer.fields.options == ["ground_truth", "predictions"]
    viewer.fields.value = ["predictions"]
    assert state.visible_fields == ["predictions"]
    plot = viewer.plots[0]
    assert plot.shapes.data["field"] == ["predictions"]
    assert plot.lines.data["id"] == []
    assert "night" in viewer.badges.object
    viewer.fields.value = ["ground_truth"]
    assert set(plot.shapes.data["field"]) == {"ground_truth"}
    assert viewer.badges.object == ""


def test_frame_group_shows_each_source_with_its_own_ranges(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.open_tile("ctx-group")
    front, rear = viewer.plots
    assert (front.title.text, rear.title.text) == ("front", "rear")
    assert front.shapes.data["label"] == ["car", "road"]
    assert rear.shapes.data["label"] == ["truck"]
    assert front.masks.data["url"][0].startswith("data:image/png;base64,")
    assert (rear.figure.x_range.end, rear.figure.y_range.start) == (32, 24)
    assert front.figure.x_range is not rear.figure.x_range
    # a single-camera context needs one plot again
    state.open_tile("ctx-0")
    assert len(viewer.plots) == 1


def test_matching_rois_only_applies_the_label_filters(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.query.param.update(label_field="predictions", labels=["car"], confidence=(0.6, 1.0))
    state.open_tile("ctx-0")
    assert state.context.frame_id == "ctx-0/f3"  # the first frame that matches
    assert "predictions" in viewer.plots[0].shapes.data["field"]
    state.context.matching_rois_only = True
    fields = viewer.plots[0].shapes.data["field"]
    assert fields.count("predictions") == 1
    assert "ground_truth" in fields  # other fields are left alone
    assert "night" not in viewer.badges.object


def test_player_steps_and_marks_matches(state: WorkbenchState):
    player = PlayerView(state.context)
    viewer = FrameViewer(state)
    state.query.where = "f.weather = 'sun'"
    state.open_tile("ctx-3")
    ctx = state.context
    assert ctx.frame_ids == [f"ctx-3/f{i}" for i in range(5)]
    assert ctx.matching == [1, 3]
    assert ctx.index == 1  # opened at the first matching frame
    assert player.label.object == "frame 2 / 5 · ctx-3/f1"
    assert player.player.end == 4 and player.player.value == 1
    assert player.timeline.source.data["color"] == [
        OTHER_COLOR,
        MATCH_COLOR,
        OTHER_COLOR,
        MATCH_COLOR,
        OTHER_COLOR,
    ]
    assert player.timeline.cursor.location == 1

    player.next_button.clicks += 1
    assert ctx.index == 2
    assert player.label.object == "frame 3 / 5 · ctx-3/f2"
    assert viewer.plots[0].image.data["url"][0].endswith("ctx-3%2Ff2.jpg")
    player.next_match.clicks += 1
    assert ctx.index == 3
    player.next_match.clicks += 1  # no later match: stays
    assert ctx.index == 3
    player.prev_match.clicks += 1
    assert ctx.index == 1
    player.player.value = 4  # what playing does
    assert ctx.frame_id == "ctx-3/f4"
    assert player.timeline.cursor.location == 4
    player.next_button.clicks += 1  # at the end: stays
    assert ctx.index == 4
    player.timeline.source.selected.indices = [0]  # a click on the timeline
    assert ctx.index == 0
    # a new query re-marks the matches of the open context
    state.query.where = "f.weather = 'rain'"
    assert ctx.matching == [0, 2, 4]


def test_frames_are_read_in_chunks(state: WorkbenchState):
    state.open_tile("ctx-0")
    loader = state.context.loader
    reads = loader.queries
    for _ in range(4):
        state.context.step(1)
    assert state.context.frame_id == "ctx-0/f4"
    assert loader.queries == reads  # the first read brought the following frames too


def test_arrow_keys_step_through_frames_and_matches(state: WorkbenchState):
    player = PlayerView(state.context)
    state.query.where = "f.weather = 'sun'"
    state.open_tile("ctx-0")
    assert state.context.index == 1
    player.keys._handle_msg({"key": "ArrowRight", "shift": False})
    assert state.context.index == 2
    player.keys._handle_msg({"key": "ArrowRight", "shift": True})
    assert state.context.index == 3
    player.keys._handle_msg({"key": "ArrowLeft", "shift": False})
    assert state.context.index == 2
    player.keys._handle_msg({"key": "Enter"})
    assert state.context.index == 2


def test_the_viewer_follows_the_query(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.open_tile("ctx-2")
    state.context.step(3)
    # a query the open context still matches: it stays where it was
    state.query.where = "f.context_id IN ('ctx-1', 'ctx-2')"
    assert (state.context.context_id, state.context.index) == ("ctx-2", 3)
    assert state.viewer_notice == "" and not viewer.notice.visible
    # a query that excludes it: the first context that matches opens, and the viewer says so
    state.query.where = "f.context_id = 'ctx-3'"
    assert state.context.frame_id == "ctx-3/f0"
    assert viewer.plots[0].image.data["url"][0].endswith("ctx-3%2Ff0.jpg")
    assert viewer.notice.visible
    assert state.viewer_notice == (
        "The open context ctx-2 does not match the query any more: showing ctx-3, "
        "the first context that does."
    )
    # nothing matches: the viewer is emptied, with a message
    state.query.where = "f.context_id = 'nowhere'"
    assert state.context.context_id is None and state.context.frame is None
    assert viewer.placeholder.visible and viewer.plots[0].image.data["url"] == []
    assert "Nothing matches the query" in viewer.notice.object
    # and the next query that matches opens its first tile
    state.query.where = "f.context_id = 'ctx-1'"
    assert state.context.frame_id == "ctx-1/f0"
    assert not viewer.notice.visible
    # a click clears the notice
    state.query.where = "f.context_id = 'ctx-0'"
    assert viewer.notice.visible
    state.tile_click(TileEvent("ctx-0"))
    assert not viewer.notice.visible


def test_in_frames_mode_the_viewer_leaves_a_frame_the_query_excludes(state: WorkbenchState):
    state.mode = "frames"
    state.open_tile("ctx-1/f2")
    state.query.where = "f.context_id = 'ctx-1' AND f.timestamp <> 200"
    assert state.context.frame_id == "ctx-1/f0"
    assert state.viewer_notice.startswith("The open frame ctx-1/f2 does not match the query")
    state.query.where = "f.context_id = 'ctx-1'"
    assert state.context.frame_id == "ctx-1/f0" and state.viewer_notice == ""
