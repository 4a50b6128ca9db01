"""Counts in words: one helper, and the sentences of the app that use it."""

from workbench.ui.dialogs import InvalidateScenes
from workbench.ui.forms import invalidate_form
from workbench.ui.grid import GridView
from workbench.ui.query_panel import QueryPanel
from workbench.ui.selection import Selection
from workbench.ui.state import WorkbenchState
from workbench.ui.text import TextPane
from workbench.ui.wording import agree, nouns, plural


def test_plural_and_agree():
    assert [plural(n, "scene") for n in (0, 1, 2)] == ["0 scenes", "1 scene", "2 scenes"]
    assert plural(1, "class") == "1 class" and plural(3, "class") == "3 classes"
    assert plural(2, "child", "children") == "2 children"
    assert nouns(1, "ROI") == "ROI" and nouns(4, "ROI") == "ROIs"
    assert agree(1, "holds", "hold") == "holds" and agree(0, "holds", "hold") == "hold"


def test_selection_summary_counts_in_words():
    one = Selection(frame_ids=("a",), context_ids=("c",), scene_uuids=("s",))
    assert one.summary() == "1 frame in 1 context selected, 1 scene"
    two = Selection(frame_ids=("a", "b"), context_ids=("c", "d"), scene_uuids=("s", "t"))
    assert two.summary() == "2 frames in 2 contexts selected, 2 scenes"


def test_one_scene_holds_the_selected_frames(state: WorkbenchState):
    dialog = InvalidateScenes(state)
    (scenes, *_) = invalidate_form(dialog)
    assert isinstance(scenes, TextPane)
    dialog.scene_uuids = ["s-1"]
    assert scenes.object.startswith("1 scene holds the selected frames")
    assert "uses it, with its annotations" in scenes.object
    dialog.scene_uuids = ["s-1", "s-2"]
    assert scenes.object.startswith("2 scenes hold the selected frames")
    assert "uses them, with their annotations" in scenes.object


def test_one_context_matches(state: WorkbenchState):
    panel = QueryPanel(state)
    grid = GridView(state)
    state.query.where = "f.id = 'ctx-1/f0'"
    assert panel.summary.object == "<b>1</b> frame in <b>1</b> context matches"
    assert grid.page_label.object == "page 1 / 1 · 1 context"
    state.query.where = "f.context_id = 'ctx-1'"
    assert panel.summary.object == "<b>5</b> frames in <b>1</b> context match"
    state.mode = "frames"
    assert grid.page_label.object == "page 1 / 1 · 5 frames"
