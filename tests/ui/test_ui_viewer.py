"""The frame viewer and the player: opening a context, stepping, fields, frame groups."""

import json
from typing import Any

import pytest

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
    url = ServedMediaUrls().image(str(_uri(state, "ctx-2/f0")))
    assert plot.image["url"] == [url]
    assert (plot.image["w"], plot.image["h"]) == ([64], [48])
    assert sorted(plot.shapes["label"]) == ["car", "car", "person"]
    assert plot.lines["label"] == ["lane"]
    assert plot.points["label"] == ["nose", "nose"]
    assert "occluded=true" in plot.shapes["attributes"]
    assert viewer.badge_texts == ["night 0.80"]
    assert not viewer.placeholder.visible
    # what the browser draws: the whole frame in one string, in source pixels
    sent = json.loads(viewer.canvas.frame_json)
    assert sent["frame"] == "ctx-2/f0"
    assert [(b["t"], b["f"]) for b in sent["badges"]] == [("night 0.80", "predictions")]
    (source,) = sent["sources"]
    assert (source["url"], source["w"], source["h"]) == (url, 64, 48)
    assert source["dw"] / source["dh"] == pytest.approx(64 / 48, rel=0.02)
    assert sorted(s["hv"][0][1] for s in source["shapes"]) == ["car", "car", "person"]
    assert all(isinstance(v, str) for s in source["shapes"] for row in s["hv"] for v in row)
    assert [len(ring) % 2 for s in source["shapes"] for ring in s["p"]] == [0] * sum(
        len(s["p"]) for s in source["shapes"]
    )
    assert [p["hv"][0] for p in source["points"]] == [["label", "nose"], ["label", "nose"]]


def _uri(state: WorkbenchState, frame_id: str) -> str:
    page = state.catalog.view().select([frame_id]).page(0, 1).to_pylist()
    return page[0]["sources"][0]["uri"]


def test_stepping_updates_sources_in_place(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.open_tile("ctx-1")
    plot = viewer.plots[0]
    canvas = viewer.canvas
    before = plot.shapes["confidence"]
    state.context.step(1)
    assert state.context.frame_id == "ctx-1/f1"
    assert viewer.plots[0] is plot and viewer.canvas is canvas
    assert json.loads(canvas.frame_json)["frame"] == "ctx-1/f1"
    assert plot.image["url"][0].endswith("ctx-1%2Ff1.jpg")
    assert plot.shapes["confidence"] != before
    assert "0.300" in plot.shapes["confidence"]


def test_field_toggles_hide_a_label_field(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.open_tile("ctx-0")
    assert viewer.fields.options == ["ground_truth", "predictions"]
    viewer.fields.value = ["predictions"]
    assert state.visible_fields == ["predictions"]
    plot = viewer.plots[0]
    assert plot.shapes["field"] == ["predictions"]
    assert plot.lines["id"] == []
    assert viewer.badge_texts and "night" in viewer.badge_texts[0]
    viewer.fields.value = ["ground_truth"]
    assert set(plot.shapes["field"]) == {"ground_truth"}
    assert viewer.badge_texts == []


def test_frame_group_shows_each_source_with_its_own_ranges(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.open_tile("ctx-group")
    front, rear = viewer.plots
    assert (front.id, rear.id) == ("front", "rear")
    assert front.shapes["label"] == ["car", "road"]
    assert rear.shapes["label"] == ["truck"]
    assert front.masks["url"][0].startswith("data:image/png;base64,")
    sent = json.loads(viewer.canvas.frame_json)["sources"]
    assert [(s["id"], s["w"], s["h"]) for s in sent][1] == ("rear", 32, 24)
    # a single-camera context needs one plot again
    state.open_tile("ctx-0")
    assert len(viewer.plots) == 1


def test_matching_rois_only_applies_the_label_filters(state: WorkbenchState):
    viewer = FrameViewer(state)
    state.query.param.update(label_field="predictions", labels=["car"], confidence=(0.6, 1.0))
    state.open_tile("ctx-0")
    assert state.context.frame_id == "ctx-0/f3"  # the first frame that matches
    assert "predictions" in viewer.plots[0].shapes["field"]
    state.context.matching_rois_only = True
    fields = viewer.plots[0].shapes["field"]
    assert fields.count("predictions") == 1
    assert "ground_truth" in fields  # other fields are left alone
    assert not any("night" in t for t in viewer.badge_texts)


def test_player_steps_and_marks_matches(state: WorkbenchState):
    player = PlayerView(state.context)
    viewer = FrameViewer(state)
    state.query.where = "f.weather = 'sun'"
    state.open_tile("ctx-3")
    ctx = state.context
    assert ctx.frame_ids == [f"ctx-3/f{i}" for i in range(5)]
    assert ctx.matching == [1, 3]
    assert ctx.index == 1  # opened at the first matching frame
    assert player.label.text == "frame 2 / 5 · ctx-3/f1"
    # the viewer's frame carries the position the page's label, controls and timeline show
    assert json.loads(viewer.canvas.frame_json)["pos"] == {
        "i": 1,
        "n": 5,
        "t": "frame 2 / 5 · ctx-3/f1",
    }
    assert player.timeline.colors == [
        OTHER_COLOR,
        MATCH_COLOR,
        OTHER_COLOR,
        MATCH_COLOR,
        OTHER_COLOR,
    ]

    player.next_button.clicks += 1
    assert ctx.index == 2
    assert player.label.text == "frame 3 / 5 · ctx-3/f2"
    assert viewer.plots[0].image["url"][0].endswith("ctx-3%2Ff2.jpg")
    player.next_match.clicks += 1
    assert ctx.index == 3
    player.next_match.clicks += 1  # no later match: stays
    assert ctx.index == 3
    player.prev_match.clicks += 1
    assert ctx.index == 1
    player.player._handle_msg({"go": 4})  # what playing does
    assert ctx.frame_id == "ctx-3/f4"
    assert json.loads(viewer.canvas.frame_json)["pos"]["i"] == 4
    player.player._handle_msg({"go": 9})  # out of the context: ignored
    player.player._handle_msg({"go": "2"})
    assert ctx.index == 4
    player.next_button.clicks += 1  # at the end: stays
    assert ctx.index == 4
    player.timeline._handle_msg({"index": 0})  # a click on the timeline
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
    assert viewer.plots[0].image["url"][0].endswith("ctx-3%2Ff0.jpg")
    assert viewer.notice.visible
    assert state.viewer_notice == (
        "The open context ctx-2 does not match the query any more: showing ctx-3, "
        "the first context that does."
    )
    # nothing matches: the viewer is emptied, with a message
    state.query.where = "f.context_id = 'nowhere'"
    assert state.context.context_id is None and state.context.frame is None
    assert viewer.placeholder.visible and viewer.plots == []
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
