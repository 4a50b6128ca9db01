"""The sample view: taking the screen, moving from sample to sample, the keys, what the
viewer draws (classes, opacity, label text) and tagging the frame and its ROIs."""

from typing import Any

import pytest

from workbench.store.catalog import Catalog
from workbench.ui.app import WorkbenchApp
from workbench.ui.display import DisplayOptions, label_texts, styled
from workbench.ui.glyphs import frame_glyphs
from workbench.ui.media import ServedMediaUrls
from workbench.ui.sample import EXPANDED


@pytest.fixture
def app(catalog: Catalog, service: Any) -> WorkbenchApp:
    return WorkbenchApp(catalog, media=ServedMediaUrls(), service=service)


def frame_record(catalog: Catalog, frame_id: str) -> dict[str, Any]:
    return catalog.view().select([frame_id]).page(0, 1).to_pylist()[0]


def test_styled_hides_classes_and_sets_each_fields_opacity(catalog: Catalog):
    glyphs = frame_glyphs(frame_record(catalog, "ctx-0/f3"))
    (shown,) = glyphs.values()
    options = DisplayOptions()
    options.set_opacity("predictions", 0.5)
    options.toggle_class("person")
    out = styled(shown, options)
    assert sorted(out.shapes["label"]) == ["car", "car"]
    alphas = dict(zip(out.shapes["field"], out.shapes["alpha"], strict=True))
    assert alphas == {"ground_truth": 1.0, "predictions": 0.5}
    assert out.shapes["fill_alpha"] == [a * 0.15 for a in out.shapes["alpha"]]
    assert [b.label for b in out.badges] == ["night"]
    options.toggle_class("night")
    assert styled(shown, options).badges == []
    texts = label_texts(out)
    assert sorted(texts["text"]) == ["car", "car 0.70", "lane"]
    # at the top-left corner of the car box (4, 4, 20 x 10)
    assert (4.0, 4.0) in zip(texts["x"], texts["y"], strict=True)


def test_the_viewer_draws_what_the_display_options_say(app: WorkbenchApp):
    display = app.state.display
    plot = app.viewer.plots[0]
    assert "person" in plot.shapes["label"] and plot.texts["text"]
    display.toggle_class("person")
    assert "person" not in plot.shapes["label"]
    app.sample.opacity["ground_truth"].value = 0.25
    assert set(plot.lines["alpha"]) == {0.25}
    app.sample.label_text.value = False
    assert plot.texts["text"] == []
    # the classes checked in the widget are those shown
    assert "person" not in app.sample.classes.value and "car" in app.sample.classes.value
    app.sample.classes.value = [c for c in app.sample.classes.value if c != "car"]
    assert sorted(display.hidden_classes) == ["car", "person"]


def test_the_sample_view_takes_the_screen_and_keys_move_through_samples(app: WorkbenchApp):
    state, keys = app.state, app.player.keys
    assert state.context.context_id == "ctx-0"
    height = app.viewer.plots[0].frame_height
    keys.press("e")
    assert state.display.expanded
    assert app.viewer.plots[0].frame_height > height
    assert app.sample.expand.label.startswith("✕ Close")
    assert (app.sample.title.strong, app.sample.title.text) == ("ctx-0", " · sample 1 of 5")
    keys.press("n")
    keys.press("n")
    assert state.context.context_id == "ctx-2"
    keys.press("p")
    assert state.context.context_id == "ctx-1"
    keys.press("ArrowRight")
    assert state.context.index == 1
    keys.press("Escape")
    assert not state.display.expanded
    assert app.viewer.plots[0].frame_height == height
    # Escape closes a dialog first, then the sample view
    keys.press("e")
    app.grid.grid._handle_msg({"event": "click", "id": "ctx-1"})
    app.actions_bar.open(app.actions_bar.send)
    keys.press("Escape")
    assert not app.actions_bar.send.visible and state.display.expanded
    keys.press("Escape")
    assert not state.display.expanded


def test_expanded_styles_cover_the_window(app: WorkbenchApp):
    area = app._viewer_area()
    viewing = area.objects[0]
    assert viewing.styles == {}
    app.state.display.expanded = True
    assert viewing.styles == EXPANDED and viewing.styles["position"] == "fixed"


def test_next_sample_crosses_pages(make_catalog: Any):
    catalog = make_catalog("ui-many")
    app = WorkbenchApp(catalog, media=ServedMediaUrls())
    state = app.state
    state.open_tile(state.tiles[-1]["id"])
    last = state.context.context_id
    state.step_tile(1)
    assert state.page == 1 and state.context.context_id == state.tiles[0]["id"] != last
    state.step_tile(-1)
    assert state.page == 0 and state.context.context_id == last


def test_tagging_the_frame_and_chosen_rois_goes_through_the_service(
    app: WorkbenchApp, catalog: Catalog
):
    state, sample = app.state, app.sample
    sample.tag.value_input = "look-again"
    app.player.keys.press("t")
    assert state.message == "ctx-0/f0: tagged 'look-again'"
    sample.tag_frame.clicks += 1
    assert state.message == "ctx-0/f0: already tagged 'look-again'"
    assert dict(state.facets.tags) == {"look-again": 1}
    # ROIs: nothing chosen is refused with a message, then two shapes clicked
    sample.tag_rois.clicks += 1
    assert "click shapes" in state.action_error
    plot = app.viewer.plots[0]
    labels, ids = plot.shapes["label"], plot.shapes["id"]
    # what a click and a shift-click on the picture send back
    app.viewer.canvas.chosen = [ids[labels.index("person")], ids[labels.index("car")]]
    sample.tag_rois.clicks += 1
    assert state.message == "tagged 2 ROIs 'look-again'" and state.action_error == ""
    rows = catalog.sql(
        "SELECT roi_id FROM tags WHERE tag = 'look-again' AND roi_id IS NOT NULL ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == ["ctx-0/f0/car", "ctx-0/f0/person"]
    sample.untag_rois.clicks += 1
    assert state.message == "removed tag 'look-again' from 2 ROIs"
    actions = [e.action for e in reversed(state.service.audit_log())]
    assert actions == ["tag_frames", "tag_frames", "tag_rois", "untag_rois"]
    # stepping to another frame forgets the shapes chosen on this one
    state.context.step(1)
    assert app.viewer.canvas.chosen == [] and app.viewer.chosen_rois() == []
