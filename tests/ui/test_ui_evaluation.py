"""The evaluation panel, driven by its parameters: picks become stages of the app's view, the
grid follows, the viewer colours ROIs by outcome, and the plots' taps are the same picks."""

from __future__ import annotations

import pytest

from workbench.analysis.evaluation import evaluate_detections
from workbench.query import View
from workbench.store.catalog import Catalog
from workbench.ui.evaluation_panel import EvaluationPanel, class_table
from workbench.ui.palette import OUTCOME_COLOURS
from workbench.ui.state import WorkbenchState


@pytest.fixture
def panel(catalog: Catalog, state: WorkbenchState) -> EvaluationPanel:
    evaluate_detections(View(catalog), "predictions", "ground_truth", "e")
    panel = EvaluationPanel(state)
    assert state.outcome_key == ""  # the viewer keeps label colours until the panel shows
    panel.state.active = True
    return panel


def test_the_latest_runs_are_listed_and_the_first_is_shown(
    panel: EvaluationPanel, state: WorkbenchState, catalog: Catalog
):
    s = panel.state
    assert s.runs == ["e"] and s.eval_key == "e" and s.results.eval_key == "e"
    assert state.outcome_key == "e"  # the viewer colours by outcome
    table = str(class_table(s.results))
    assert "<td>car</td>" in table and "mAP" in table
    evaluate_detections(View(catalog), "predictions", "ground_truth", "<b>x</b>")
    s.refresh_runs()
    assert s.runs == ["e", "<b>x</b>"]
    s.eval_key = "<b>x</b>"
    assert "&lt;b&gt;x&lt;/b&gt;" in str(class_table(s.results))
    s.colour_outcomes = False
    assert state.outcome_key == ""


def test_outcome_filter_and_sort_become_stages_the_grid_follows(
    panel: EvaluationPanel, state: WorkbenchState, catalog: Catalog
):
    s = panel.state
    state.mode = "frames"
    everything = state.total
    s.param.update(outcomes=["tp"], confidence=(0.6, 1.0))
    expected = catalog.sql(
        "SELECT DISTINCT frame_id FROM eval_rois WHERE outcome = 'tp'"
        " AND (field = 'ground_truth' OR confidence >= 0.6)"  # bounds narrow predictions only
    ).fetchall()
    assert state.total == len(expected)
    predictions = [r for r in state.view.rois().to_pylist() if r["field"] == "predictions"]
    assert predictions and all(r["confidence"] >= 0.6 for r in predictions)
    s.outcomes = ["fn"]
    missed = catalog.sql("SELECT count(DISTINCT frame_id) FROM eval_rois WHERE outcome = 'fn'")
    assert state.total == missed.fetchall()[0][0]
    s.outcomes = ["tp"]
    kinds = [st.kind for st in state.view.stages]
    assert kinds[-1] == "match_eval"
    s.sort_by = "fn"
    assert state.view.stages[-1].kind == "sort_by_eval_count"
    s.param.update(outcomes=[], confidence=(0.0, 1.0))
    fn = dict(
        catalog.sql(
            "SELECT frame_id, count(*) FROM eval_rois WHERE outcome = 'fn' GROUP BY 1"
        ).fetchall()
    )
    counts = [fn.get(t["id"], 0) for t in state.tiles]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    assert "most false negatives first" in s.description
    s.clear()
    assert state.query.panels == {} and state.total == everything
    s.param.update(outcomes=["fn"], sort_by="fn")
    state.query.reset()  # "Reset filters" drops the panel's stages and so its picks
    assert s.outcomes == [] and s.sort_by == "" and state.total == everything
    # a saved view keeps what the panel added
    s.sort_by = "fn"
    assert state.query.view(catalog).to_dict()["stages"][-1]["stage"] == "sort_by_eval_count"


def test_a_confusion_cell_and_a_pr_point_become_views(
    panel: EvaluationPanel, state: WorkbenchState, catalog: Catalog
):
    s = panel.state
    state.mode = "frames"
    s.pick_cell("person", "(none)")  # every person is missed in this catalog
    missed = {
        r[0]
        for r in catalog.sql(
            "SELECT frame_id FROM eval_rois WHERE outcome = 'fn' AND label = 'person'"
        ).fetchall()
    }
    assert set(state.view.frame_ids()) == missed
    frame = state.view.page(0, 1).to_pylist()[0]
    assert {r["label"] for r in frame["rois"] if r["field"] == "ground_truth"} == {"person"}
    assert state.query.view(catalog).stages[-1].kind == "match_confusion"
    # the heatmap's tap is the same pick (x: predicted, y: ground truth)
    from workbench.ui.evaluation_panel import confusion_plot, pr_plot

    confusion_plot(s, s.results)
    s._cell_tap.event(x="car", y="car")
    assert s.cell == ("car", "car") and s.pr_point is None
    tp = catalog.sql("SELECT count(DISTINCT frame_id) FROM eval_rois WHERE outcome = 'tp'")
    assert state.total == tp.fetchall()[0][0]
    # a PR point: the car detections at or above the confidence reaching that recall
    s.pick_pr_point("car", 0.5)
    label, recall, score = s.pr_point
    assert label == "car" and recall == pytest.approx(0.5) and s.cell is None
    rois = state.view.rois().to_pylist()
    predictions = [r for r in rois if r["field"] == "predictions"]
    assert predictions and all(
        r["confidence"] >= score and r["label"] == "car" for r in predictions
    )
    pr_plot(s, s.results)
    s._pr_tap.event(x=0.86, y=1.0)
    assert s.pr_point[0] == "car" and s.pr_point[1] == pytest.approx(0.86)


def test_the_viewer_colours_rois_by_outcome(panel: EvaluationPanel, state: WorkbenchState):
    from workbench.ui.viewer import FrameViewer

    viewer = FrameViewer(state)
    panel.state.pick_cell("person", "(none)")
    state.open_tile(state.tiles[0]["id"])
    shapes = viewer.plots[0].shapes
    by_label = dict(
        zip(shapes["label"], zip(shapes["color"], shapes["outcome"], strict=True), strict=True)
    )
    assert by_label["person"] == (OUTCOME_COLOURS["fn"], "fn")
    panel.state.colour_outcomes = False
    shapes = viewer.plots[0].shapes
    assert set(shapes["outcome"]) == {""}


def test_evaluate_stores_a_run_over_the_view_and_shows_it(state: WorkbenchState, catalog: Catalog):
    panel = EvaluationPanel(state)
    s = panel.state
    assert s.runs == [] and s.results is None
    assert (s.pred_field, s.gt_field) == ("predictions", "ground_truth")
    state.query.where = "f.context_id = 'ctx-1'"
    s.param.update(new_key="strict", iou=0.75)
    s.evaluate()
    assert s.error == "" and s.working == ""
    assert s.runs == ["strict"] and s.eval_key == "strict"
    assert s.results.config.iou == 0.75 and s.results.pred_field == "predictions"
    frames = catalog.sql("SELECT count(DISTINCT frame_id) FROM eval_frames").fetchall()[0][0]
    in_view = len(View(catalog).where("f.context_id = 'ctx-1'").frame_ids())
    assert 0 < frames == in_view < len(View(catalog).frame_ids())
    audited = "SELECT count(*) FROM audit_log WHERE action = 'evaluate_detections'"
    assert catalog.sql(audited).fetchall()[0][0] == 1
    # a key in use is refused with a message; the stored run is left as it was
    s.iou = 0.5
    s.evaluate()
    assert "'strict' is stored" in s.error
    assert catalog.sql("SELECT count(*) FROM evaluations").fetchall()[0][0] == 1
    assert s.results.config.iou == 0.75
    # the evaluation's own refusal is shown too (a field against itself)
    s.param.update(new_key="itself", gt_field="predictions")
    s.evaluate()
    assert "both 'predictions'" in s.error
    assert s.error and s.working == "" and s.runs == ["strict"]
