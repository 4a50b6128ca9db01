"""The patches view, driven by its parameters: one patch per ROI of the app's view, pages,
the crop, and patches picked as the app's selection."""

from __future__ import annotations

from workbench.analysis.evaluation import evaluate_detections
from workbench.query import View
from workbench.store.catalog import Catalog
from workbench.ui.grid import TileEvent
from workbench.ui.palette import OUTCOME_COLOURS
from workbench.ui.patches import PatchesView, crop_box
from workbench.ui.state import WorkbenchState


def boxes(catalog: Catalog, where: str = "TRUE") -> list[tuple[str, str]]:
    query = f"SELECT frame_id, id FROM rois WHERE x_min IS NOT NULL AND {where} ORDER BY rowid"
    return [tuple(r) for r in catalog.sql(query).fetchall()]


def ids(view: PatchesView) -> list[tuple[str, str]]:
    return [tuple(p["id"].split("\x1f")) for p in view.state.patches]


def test_patches_page_through_every_roi_of_the_view(state: WorkbenchState, catalog: Catalog):
    view = PatchesView(state)
    assert view.state.patches == []  # nothing is read until the view is shown
    view.state.page_size = 10
    view.state.active = True
    expected = boxes(catalog)
    assert view.state.total == len(expected) > 20
    seen = ids(view)
    while view.state.page < view.state.pages - 1:
        view.state.next_page()
        seen += ids(view)
    assert seen == expected
    assert '"total":' in view.grid.page_json
    view.state.field = "predictions"
    assert view.state.page == 0
    assert ids(view) == boxes(catalog, "field = 'predictions'")[:10]
    # the query narrows the patches
    state.query.where = "f.context_id = 'ctx-1'"
    assert all(p["context_id"] == "ctx-1" for p in view.state.patches)
    assert view.state.total == 5


def test_outcomes_colour_the_patches(state: WorkbenchState, catalog: Catalog):
    evaluate_detections(View(catalog), "predictions", "ground_truth", "e")
    view = PatchesView(state)
    view.state.param.update(active=True, field="ground_truth", page_size=500)
    state.query.set_panel_stages("x", View(catalog).match_eval("e", "fn").stages)
    state.outcome_key = "e"
    missed = catalog.sql(
        "SELECT count(*) FROM eval_rois e JOIN rois r ON r.frame_id = e.frame_id"
        " AND r.id = e.roi_id AND r.field = e.field WHERE e.outcome = 'fn' AND r.x_min IS NOT NULL"
    ).fetchall()[0][0]
    assert view.state.total == len(view.state.patches) == missed > 0
    assert {(p["outcome"], p["color"]) for p in view.state.patches} == {
        ("fn", OUTCOME_COLOURS["fn"])
    }


def test_picking_patches_selects_their_frames(state: WorkbenchState):
    view = PatchesView(state)
    view.state.active = True
    patches = view.state.patches
    first, third = patches[0], patches[2]
    view.state.click(TileEvent(first["id"]))
    assert state.selection.frame_ids == (first["frame_id"],)
    assert state.context.frame_id == first["frame_id"]  # opened in the viewer
    assert view.state.selected == [first["id"]]
    view.state.click(TileEvent(third["id"], shift=True))
    assert view.state.selected == [p["id"] for p in patches[:3]]
    frames = list(dict.fromkeys(p["frame_id"] for p in patches[:3]))
    assert list(state.selection.frame_ids) == frames
    view.state.click(TileEvent(first["id"], ctrl=True))
    assert view.state.selected == [p["id"] for p in patches[1:3]]
    state.clear_selection()
    assert view.state.selected == []
    view.grid._handle_msg({"event": "click", "id": third["id"], "shift": False, "ctrl": False})
    assert view.state.selected == [third["id"]]


def test_the_crop_is_a_square_around_the_roi_inside_the_picture():
    roi = {"x_min": 10, "y_min": 20, "x_max": 30, "y_max": 30}
    x, y, w, h = crop_box(roi, 64, 48)
    assert w == h == 26.0 and x <= 10 and x + w >= 30 and y <= 20 and y + h >= 30
    x, y, w, _ = crop_box({"x_min": 0, "y_min": 0, "x_max": 2, "y_max": 2}, 64, 48)
    assert (x, y, w) == (0, 0, 24)  # small ROIs keep some context, clamped to the picture
