"""Playback at the footage's frame rate, with the next frames read and fetched ahead."""

import json
from typing import Any

import pytest

from workbench.store.catalog import Catalog
from workbench.ui.app import WorkbenchApp
from workbench.ui.media import ServedMediaUrls
from workbench.ui.playback import (
    DEFAULT_FPS,
    MIN_BATCH,
    batch_size,
    frame_rate,
    player_interval,
)


@pytest.fixture(scope="module")
def catalog(read_only_catalogs: Any) -> Catalog:
    return read_only_catalogs("ui")


def test_frame_rate_from_timestamps():
    assert frame_rate([0, 100, 200, 300]) == 10.0
    assert frame_rate([1_700_000_000_000 + 40 * i for i in range(10)]) == 25.0
    assert frame_rate([0, 33, 66, 100]) == 30.0  # at most 30
    assert frame_rate([0, 5000]) == 1.0  # at least 1
    assert frame_rate([None, None]) == frame_rate([7]) == DEFAULT_FPS
    assert frame_rate([0, 100, 100, 200, None, 300]) == 10.0  # repeats and gaps skipped
    assert player_interval(10.0) == 100 and player_interval(30.0) == 33


def test_playing_a_context_at_its_rate_with_frames_ahead(catalog: Catalog):
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    context, player = app.state.context, app.player
    app.state.open_tile("ctx-1")
    assert context.fps == 10.0 and player.player.interval == 100
    # the next frames' records are read and their pictures handed to the browser
    loader = context.loader
    assert all(loader.peek(f"ctx-1/f{i}") is not None for i in range(1, 5))
    urls = json.loads(player.read_ahead.prefetch.urls_json)
    assert urls[0] == ServedMediaUrls().image(str(loader.peek("ctx-1/f1")["sources"][0]["uri"]))
    assert len(urls) == 4
    queries = loader.queries
    for _ in range(4):  # playing needs no query: every frame is read already
        context.step(1)
    assert context.index == 4 and loader.queries == queries
    # space plays and pauses
    player.keys.press(" ")
    assert player.player.direction == 1
    player.keys.press(" ")
    assert player.player.direction == 0


def test_playing_the_page_gets_the_next_frames_in_one_message(catalog: Catalog):
    """The playing page asks for frames ahead (FrameCanvas's `more` message): the server
    follows it to the frame it shows, marking that frame as a follow (the page does not draw
    it again), and sends the next frames, each as a step would have drawn it."""
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    context, canvas = app.state.context, app.viewer.canvas
    app.state.open_tile("ctx-1")
    assert batch_size(context.fps) == 5 and batch_size(30.0) == 15 and batch_size(1.0) == MIN_BATCH
    canvas._handle_msg({"more": {"at": 1, "frame": "ctx-1/f1", "from": 2, "dir": 1}})
    assert context.index == 1
    shown = json.loads(canvas.frame_json)
    assert shown["follow"] == 1 and shown["frame"] == "ctx-1/f1"
    batch = json.loads(canvas.batch_json)
    frames = batch["frames"]
    assert [f["frame"] for f in frames] == ["ctx-1/f2", "ctx-1/f3", "ctx-1/f4"]  # 5 frames
    assert [f["pos"]["i"] for f in frames] == [2, 3, 4]
    assert frames[0]["pos"]["t"] == "frame 3 / 5 · ctx-1/f2"
    context.index = 2  # a step draws the frame the batch held, the same way
    stepped = json.loads(canvas.frame_json)
    assert "follow" not in stepped
    # but for the ROIs' hover rows: played frames come without them (half their JSON)
    rois = [r for s in stepped["sources"] for k in ("shapes", "lines", "points") for r in s[k]]
    assert rois and all(r["hv"] for r in rois)
    assert {k: _without_hover(stepped[k]) for k in frames[0]} == frames[0]
    assert "hv" not in json.dumps(batch)
    # the page asks for them with the mouse over a played frame's ROI: one message
    canvas._handle_msg({"tips": "ctx-1/f3"})
    tips = json.loads(canvas.tips_json)
    assert tips["frame"] == "ctx-1/f3"
    shown_rows = [r["hv"] for s in _frame_of(app, 3)["sources"] for r in s["shapes"]]
    assert [r for s in tips["sources"] for r in s["shapes"]] == shown_rows
    canvas._handle_msg({"tips": "ctx-1/f3"})  # asked again (the frame drawn again): a change
    assert json.loads(canvas.tips_json)["seq"] == tips["seq"] + 1
    canvas._handle_msg({"tips": "ctx-2/f0"})  # not of the open context: ignored
    assert json.loads(canvas.tips_json)["frame"] == "ctx-1/f3"
    # backwards, and each batch is a change of its own
    canvas._handle_msg({"more": {"at": 2, "frame": "ctx-1/f2", "from": 1, "dir": -1}})
    again = json.loads(canvas.batch_json)
    assert again["seq"] == batch["seq"] + 1
    assert [f["pos"]["i"] for f in again["frames"]] == [1, 0]
    # a short first batch, when asked for
    canvas._handle_msg({"more": {"at": 2, "frame": "ctx-1/f2", "from": 3, "dir": 1, "count": 1}})
    assert [f["pos"]["i"] for f in json.loads(canvas.batch_json)["frames"]] == [3]
    again = json.loads(canvas.batch_json)
    # what is not a request is ignored, and so is one about a frame not at its position
    # (the page asked before another context or filter reached it)
    for bad in (
        {"more": {"at": 9, "frame": "ctx-1/f9", "from": 1, "dir": 1}},
        {"more": {"at": 0, "frame": "ctx-1/f0", "from": 1}},
        {"more": {"at": True, "frame": "ctx-1/f1", "from": 1, "dir": 1}},
        {"more": {"at": 0, "frame": "ctx-2/f0", "from": 1, "dir": 1}},
        {"more": {"at": 0, "from": 1, "dir": 1}},
        {"more": "x"},
        [1],
    ):
        canvas._handle_msg(bad)
    assert json.loads(canvas.batch_json)["seq"] == again["seq"] and context.index == 2


def _without_hover(value: object) -> object:
    """`value` (a frame's JSON) without the ROIs' hover rows."""
    if isinstance(value, dict):
        return {k: _without_hover(v) for k, v in value.items() if k != "hv"}
    if isinstance(value, list):
        return [_without_hover(v) for v in value]
    return value


def _frame_of(app: WorkbenchApp, index: int) -> dict:
    """The open context's frame at `index` as a step draws it."""
    app.state.context.index = index
    return json.loads(app.viewer.canvas.frame_json)


def test_a_frame_carries_the_frames_a_step_goes_to(catalog: Catalog):
    """The viewer's frame carries the previous and next frames and the previous and next
    matching frames, each as a step there draws it (without hover rows): the page draws a
    step at once from them (frame_view.js). A match that is a neighbour is sent once."""
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    state, context, canvas = app.state, app.state.context, app.viewer.canvas
    state.query.where = "f.weather = 'rain'"  # the even frames
    state.open_tile("ctx-1")
    assert context.matching == [0, 2, 4] and context.index == 0
    near = json.loads(canvas.frame_json)["near"]
    assert set(near) == {"1", "m1"}  # nothing before the first frame
    assert near["1"]["frame"] == "ctx-1/f1" and near["m1"]["frame"] == "ctx-1/f2"
    app.player.next_match.clicks += 1  # to f2: what the page drew is what the server draws
    assert context.index == 2
    assert _strip(json.loads(canvas.frame_json)) == _strip(near["m1"])
    near = json.loads(canvas.frame_json)["near"]
    assert {k: v["frame"] for k, v in near.items()} == {
        "-1": "ctx-1/f1", "1": "ctx-1/f3", "m-1": "ctx-1/f0", "m1": "ctx-1/f4",
    }  # fmt: skip
    assert near["m-1"]["pos"]["t"] == "frame 1 / 5 · ctx-1/f0"
    assert "hv" not in json.dumps(near)
    # a match not read yet is read in one query with the step
    context.loader.clear()
    queries = context.loader.queries
    context.index = 1
    near = json.loads(canvas.frame_json)["near"]
    assert near["m-1"] == "-1" and near["m1"] == "1"  # the neighbours, sent once
    assert near["-1"]["frame"] == "ctx-1/f0" and near["1"]["frame"] == "ctx-1/f2"
    assert context.loader.queries == queries + 1  # the step's own read
    context.loader.clear()
    context.index = 3
    near = json.loads(canvas.frame_json)["near"]
    assert near["m1"] == "1" and near["m-1"] == "-1"
    # the matches change (another WHERE) at the same frame: the frame is sent again with
    # the new ones
    state.query.where = "f.weather = 'sun'"  # the odd frames
    assert context.matching == [1, 3] and context.index == 3
    near = json.loads(canvas.frame_json)["near"]
    assert near["m-1"]["frame"] == "ctx-1/f1" and "m1" not in near


def _strip(frame: dict) -> dict:
    """A frame's JSON without what only the server's own frame carries."""
    return {k: v for k, v in _without_hover(frame).items() if k not in ("ahead", "near")}
