"""The confusion matrix as views: every cell's ROIs, counted against the results object, and
ROI pages of a view (the app's patches) against hand-written SQL."""

from __future__ import annotations

import pytest

from workbench.errors import QueryError
from workbench.query.roi_pages import count_patches, frame_outcomes, patch_page
from workbench.store.catalog import Catalog


def _cell_rois(catalog: Catalog, truth: str, predicted: str, key: str) -> tuple[int, int]:
    """(ground truth, predictions) the view of one cell keeps."""
    rois = catalog.view().match_confusion(key, truth, predicted).rois().to_pylist()
    gt = sum(1 for r in rois if r["field"] == "ground_truth")
    pred = sum(1 for r in rois if r["field"] == "predictions")
    return gt, pred


@pytest.mark.parametrize("classwise", [True, False])
def test_each_cell_keeps_the_rois_the_matrix_counts(catalog: Catalog, classwise: bool) -> None:
    key = f"cw{int(classwise)}"
    results = catalog.evaluate_detections("predictions", eval_key=key, classwise=classwise)
    labels = results.confusion.labels
    checked = 0
    for i, truth in enumerate(labels):
        for j, predicted in enumerate(labels):
            count = results.confusion.counts[i][j]
            if truth == predicted == "(none)":
                continue
            if count == 0 and (i + j) % 3:  # every non-empty cell, a third of the empty ones
                continue
            gt, pred = _cell_rois(catalog, truth, predicted, key)
            if truth == "(none)":
                assert (gt, pred) == (0, count), (truth, predicted)
            elif predicted == "(none)":
                assert (gt, pred) == (count, 0), (truth, predicted)
            else:
                assert gt == count and pred == count, (truth, predicted, gt, pred)
            checked += 1
    assert checked > len(labels)
    if not classwise:
        off = [
            (t, p)
            for i, t in enumerate(labels)
            for j, p in enumerate(labels)
            if i != j and "(none)" not in (t, p) and results.confusion.counts[i][j]
        ]
        assert off, "the generated data has wrong-label detections"


def test_a_cell_view_keeps_other_fields_and_names_known_runs(catalog: Catalog) -> None:
    catalog.evaluate_detections("predictions", eval_key="e")
    view = catalog.view().match_confusion("e", "car", "(none)")
    frames = set(view.frame_ids())
    expected = {
        r[0]
        for r in catalog.sql(
            "SELECT e.frame_id FROM eval_rois e JOIN evaluations v USING (run_id)"
            " WHERE v.eval_key = 'e' AND e.outcome = 'fn' AND e.label = 'car'"
            " AND e.match_id IS NULL"
        ).fetchall()
    }
    assert frames == expected and frames
    spec = view.to_dict()
    assert spec["stages"][0] == {
        "stage": "match_confusion", "eval_key": "e", "truth": "car", "predicted": "(none)",
    }  # fmt: skip
    with pytest.raises(QueryError, match="no evaluation"):
        catalog.view().match_confusion("nope", "car", "car")
    with pytest.raises(QueryError, match="one side"):
        catalog.view().match_confusion("e", "(none)", "(none)")


def test_patch_pages_follow_the_view_order(catalog: Catalog) -> None:
    catalog.evaluate_detections("predictions", eval_key="e")
    view = catalog.view().match_eval("e", "fp").sort_by_eval_count("e", "fp", reverse=True)
    total = count_patches(view, ["predictions"])
    expected = catalog.sql(
        "SELECT count(*) FROM eval_rois e JOIN evaluations v USING (run_id)"
        " JOIN rois r ON r.frame_id = e.frame_id AND r.id = e.roi_id AND r.field = e.field"
        " WHERE v.eval_key = 'e' AND e.outcome = 'fp' AND r.x_min IS NOT NULL"
    ).fetchall()[0][0]
    assert total == expected > 10
    first = patch_page(view, 0, 7, fields=["predictions"], eval_key="e").to_pylist()
    rest = patch_page(view, 7, total, fields=["predictions"], eval_key="e").to_pylist()
    rows = first + rest
    assert len(rows) == total and {r["outcome"] for r in rows} == {"fp"}
    order = view.frame_ids()
    positions = [order.index(r["frame_id"]) for r in rows]
    assert positions == sorted(positions)  # frames in view order, pages continue each other
    assert all(r["uri"] and r["width"] and r["context_id"] for r in rows)
    # unsorted: the whole catalog in stored order, every field
    everything = count_patches(catalog.view())
    boxes = catalog.sql("SELECT count(*) FROM rois WHERE x_min IS NOT NULL").fetchall()[0][0]
    assert everything == boxes
    page = patch_page(catalog.view(), 5, 3).to_pylist()
    stored = catalog.sql(
        "SELECT frame_id, id FROM rois WHERE x_min IS NOT NULL ORDER BY rowid LIMIT 3 OFFSET 5"
    ).fetchall()
    assert [(r["frame_id"], r["id"]) for r in page] == stored
    assert {r["outcome"] for r in page} == {None}
    with pytest.raises(QueryError):
        patch_page(catalog.view(), 0, 0)


def test_frame_outcomes(catalog: Catalog) -> None:
    catalog.evaluate_detections("predictions", eval_key="e")
    frame = catalog.sql("SELECT frame_id FROM eval_rois LIMIT 1").fetchall()[0][0]
    table = frame_outcomes(catalog, "e", [frame]).to_pylist()
    stored = catalog.sql("SELECT count(*) FROM eval_rois WHERE frame_id = ?", [frame]).fetchall()
    assert len(table) == stored[0][0] > 0
    assert {r["outcome"] for r in table} <= {"tp", "fp", "fn", "ignored"}
    assert frame_outcomes(catalog, "nope", [frame]).num_rows == 0


def test_the_rois_of_a_view_sorted_by_outcome_count(catalog: Catalog) -> None:
    catalog.evaluate_detections("predictions", eval_key="e")
    view = catalog.view().match_eval("e", "fp").sort_by_eval_count("e", "fp", reverse=True)
    rois = view.rois().to_pylist()
    order = view.frame_ids()
    positions = [order.index(r["frame_id"]) for r in rois]
    assert rois and positions == sorted(positions)
