"""Evaluation runs as catalog data: the tables, list/load/rename/delete, re-runs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.analysis.evaluation import BACKGROUND, DetectionResults
from workbench.errors import EvaluationError, QueryError
from workbench.store.catalog import Catalog

from .eval_data import Dataset, cocoeval, mean_defined

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _scalar(catalog: Catalog, query: str, *params: object) -> object:
    return catalog.sql(query, list(params)).fetchall()[0][0]


def test_tables_are_readable_with_sql(catalog: Catalog) -> None:
    results = catalog.evaluate_detections("predictions", eval_key="eval")
    assert {"evaluations", "eval_rois", "eval_frames"} <= set(catalog.table_names())
    row = catalog.sql(
        "SELECT pred_field, gt_field, method, metrics->>'$.mAP', config->>'$.iou', frames, rois"
        " FROM evaluations WHERE eval_key = 'eval'"
    ).fetchall()[0]
    assert row[:3] == ("predictions", "ground_truth", "coco")
    assert float(row[3]) == pytest.approx(results.mAP) and float(row[4]) == 0.5
    evaluated = _scalar(catalog, "SELECT count(*) FROM rois WHERE kind = 'box'")
    assert row[6] == evaluated == _scalar(catalog, "SELECT count(*) FROM eval_rois")
    assert row[5] == results.frames == _scalar(catalog, "SELECT count(*) FROM frames")
    # eval_frames agrees with eval_rois, frame by frame.
    mismatched = _scalar(
        catalog,
        "SELECT count(*) FROM eval_frames f JOIN evaluations v USING (run_id)"
        " LEFT JOIN (SELECT frame_id, count(*) FILTER (outcome = 'fp') AS fp,"
        "   count(*) FILTER (outcome = 'tp' AND field = 'predictions') AS tp,"
        "   count(*) FILTER (outcome = 'fn') AS fn FROM eval_rois GROUP BY 1) e USING (frame_id)"
        " WHERE v.eval_key = 'eval' AND (f.fp, f.tp, f.fn) <> (coalesce(e.fp, 0), coalesce(e.tp, 0), coalesce(e.fn, 0))",
    )
    assert mismatched == 0
    totals = catalog.sql("SELECT sum(tp), sum(fp), sum(fn) FROM eval_frames").fetchall()[0]
    assert totals == (results.tp, results.fp, results.fn)
    # Every matched prediction names ground truth of the same frame whose match is itself.
    broken = _scalar(
        catalog,
        "SELECT count(*) FROM eval_rois d LEFT JOIN eval_rois g ON g.frame_id = d.frame_id"
        " AND g.roi_id = d.match_id AND g.field = 'ground_truth'"
        " WHERE d.field = 'predictions' AND d.outcome = 'tp'"
        " AND (g.match_id IS DISTINCT FROM d.roi_id OR g.outcome <> 'tp' OR d.iou < 0.5)",
    )
    assert broken == 0


def test_counts_and_confusion_add_up(catalog: Catalog) -> None:
    results = catalog.evaluate_detections("predictions")
    by_label = dict(
        catalog.sql(
            "SELECT label || '/' || outcome, count(*) FROM eval_rois"
            " WHERE field = 'predictions' OR outcome = 'fn' GROUP BY 1"
        ).fetchall()
    )
    confusion = results.confusion
    assert confusion.labels[-1] == BACKGROUND
    for c in results.classes:
        assert c.tp == by_label.get(f"{c.label}/tp", 0) == confusion.count(c.label, c.label)
        assert c.fp == by_label.get(f"{c.label}/fp", 0) == confusion.count(BACKGROUND, c.label)
        assert c.fn == by_label.get(f"{c.label}/fn", 0) == confusion.count(c.label, BACKGROUND)
        assert c.support == c.tp + c.fn
    assert results.tp > 0 and results.fp > 0 and results.fn > 0
    text = results.report()
    assert "mAP" in text and all(c.label in text for c in results.classes)


def test_list_load_rename_delete(catalog: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    first = catalog.evaluate_detections("predictions", eval_key="first")
    catalog.evaluate_detections("predictions", eval_key="second", iou=0.7, compute_mAP=False)
    listed = {e.eval_key: e for e in catalog.list_evaluations()}
    assert set(listed) == {"first", "second"}
    assert listed["first"].mAP == pytest.approx(first.mAP) and listed["second"].mAP is None
    loaded = catalog.load_evaluation_results("first")
    assert isinstance(loaded, DetectionResults)
    assert loaded.to_dict() == first.to_dict()
    loaded.print_report()
    assert "first" in capsys.readouterr().out

    catalog.rename_evaluation("first", "renamed")
    assert {e.eval_key for e in catalog.list_evaluations()} == {"renamed", "second"}
    assert catalog.load_evaluation_results("renamed").eval_key == "renamed"
    with pytest.raises(EvaluationError, match="no evaluation 'first'"):
        catalog.load_evaluation_results("first")
    with pytest.raises(EvaluationError, match="exists"):
        catalog.rename_evaluation("renamed", "second")
    assert catalog.view().match_eval("renamed", "fp").count() > 0

    rows = _scalar(catalog, "SELECT count(*) FROM eval_rois")
    plan = catalog.delete_evaluation("renamed", dryrun=True)
    assert plan.dryrun and plan.rois == rows // 2 and plan.frames == first.frames
    assert _scalar(catalog, "SELECT count(*) FROM eval_rois") == rows  # nothing removed
    for refused in (False, "yes", 1, None):
        with pytest.raises(EvaluationError, match="confirm=True"):
            catalog.delete_evaluation("renamed", confirm=refused)  # type: ignore[arg-type]
    assert {e.eval_key for e in catalog.list_evaluations()} == {"renamed", "second"}
    done = catalog.delete_evaluation("renamed", confirm=True)
    assert not done.dryrun and done.rois == plan.rois
    assert {e.eval_key for e in catalog.list_evaluations()} == {"second"}
    assert _scalar(catalog, "SELECT count(*) FROM eval_rois") == rows - plan.rois
    assert _scalar(catalog, "SELECT count(*) FROM eval_frames") == first.frames
    audit = catalog.sql(
        "SELECT action, dry_run, target->>'$.eval_key' FROM audit_log WHERE action <> 'import' ORDER BY id"
    ).fetchall()
    assert audit == [
        ("evaluate_detections", False, "first"),
        ("evaluate_detections", False, "second"),
        ("rename_evaluation", False, "first"),
        ("delete_evaluation", True, "renamed"),
        ("delete_evaluation", False, "renamed"),
    ]


def test_rerunning_a_key_needs_overwrite(catalog: Catalog) -> None:
    catalog.evaluate_detections("predictions", eval_key="eval")
    before = catalog.sql("SELECT run_id, rois FROM evaluations").fetchall()
    with pytest.raises(EvaluationError, match="overwrite=True"):
        catalog.evaluate_detections("predictions", eval_key="eval", iou=0.75)
    assert catalog.sql("SELECT run_id, rois FROM evaluations").fetchall() == before
    results = catalog.evaluate_detections("predictions", eval_key="eval", iou=0.75, overwrite=True)
    after = catalog.sql("SELECT run_id, rois FROM evaluations").fetchall()
    assert len(after) == 1 and after[0][0] != before[0][0] and after[0][1] == before[0][1]
    assert _scalar(catalog, "SELECT count(DISTINCT run_id) FROM eval_rois") == 1
    assert _scalar(catalog, "SELECT count(*) FROM eval_rois") == after[0][1]
    assert catalog.load_evaluation_results("eval").config.iou == 0.75 == results.config.iou


def test_simple_method_equals_cocoeval_at_one_threshold(
    catalog: Catalog, box_dataset: tuple[Dataset, Path]
) -> None:
    """ "simple": one IoU threshold, no area ranges, no cap on detections."""
    results = catalog.evaluate_detections("predictions", method="simple", iou=0.7)
    assert results.config.thresholds == (0.7,) and results.config.max_dets == ()
    capped = _scalar(
        catalog,
        "SELECT count(*) FROM eval_rois WHERE field = 'predictions' AND outcome = 'ignored'",
    )
    crowds = _scalar(
        catalog,
        "SELECT count(*) FROM eval_rois d JOIN eval_rois g ON g.frame_id = d.frame_id"
        " AND g.roi_id = d.match_id AND g.field = 'ground_truth'"
        " WHERE d.field = 'predictions' AND d.outcome = 'ignored' AND g.crowd",
    )
    assert capped == crowds  # nothing is ignored but matches with crowds
    evaluator = cocoeval(box_dataset[0], iou_thresholds=[0.7], max_dets=[10_000], all_areas=True)
    assert results.mAP == pytest.approx(
        mean_defined(evaluator.eval["precision"][:, :, :, 0, -1]), abs=1e-9
    )
    coco = catalog.evaluate_detections("predictions", eval_key="coco")
    assert coco.mAP != results.mAP


def test_evaluating_a_view(
    catalog: Catalog, box_dataset: tuple[Dataset, Path], tmp_path: Path
) -> None:
    """Only the view's frames, and its ROIs as filter_rois narrowed them, are evaluated."""
    frames = [f"gt:{i}" for i in range(1, 21)]
    view = catalog.view().select(frames)
    view = view.filter_rois("predictions", min_confidence=0.5, only_matches=False)
    results = view.evaluate_detections("predictions", eval_key="part")
    assert results.frames == 20
    data = box_dataset[0]
    detections = [d for d in json.loads(data.dt_path.read_text()) if d["score"] >= 0.5]
    filtered = tmp_path / "dt_filtered.json"
    filtered.write_text(json.dumps(detections))
    evaluator = cocoeval(
        Dataset(data.gt_path, filtered, filtered, "bbox"), image_ids=list(range(1, 21))
    )
    assert results.mAP == pytest.approx(evaluator.stats[0], abs=1e-9)
    again = catalog.load_evaluation_view("part")
    assert again.frame_ids() == view.frame_ids()
    assert _scalar(catalog, "SELECT count(*) FROM eval_rois WHERE confidence < 0.5") == 0
    assert catalog.load_evaluation_view("part").to_dict() == view.to_dict()


def test_refusals_write_nothing(catalog: Catalog) -> None:
    cases = [
        ({"pred_field": "nothing"}, "no ROIs of field 'nothing'"),
        ({"pred_field": "ground_truth"}, "both"),
        ({"method": "pascal-voc"}, "unknown method"),
        ({"iou": 1.5}, "iou"),
        ({"iou_threshs": []}, "at least one"),
        ({"max_dets": [10, 1]}, "increasing"),
        ({"area_ranges": {"all": (10, 1)}}, "min <= max"),
        ({"eval_key": ""}, "non-empty"),
        ({"classwise": "yes"}, "classwise"),
    ]
    for options, message in cases:
        args = {"pred_field": "predictions", **options}
        with pytest.raises(EvaluationError, match=message):
            catalog.evaluate_detections(**args)
    assert _scalar(catalog, "SELECT count(*) FROM evaluations") == 0
    assert _scalar(catalog, "SELECT count(*) FROM eval_rois") == 0
    with pytest.raises(EvaluationError, match="no evaluation"):
        catalog.delete_evaluation("missing", confirm=True)
    with pytest.raises(QueryError, match="no evaluation"):
        catalog.view().match_eval("missing", "fp")


def test_per_class_ap_is_the_mean_over_thresholds(catalog: Catalog) -> None:
    results = catalog.evaluate_detections("predictions")
    for c in results.classes:
        if c.ap is None:
            continue
        curves = [results.curve(c.label, t) for t in results.config.iou_threshs]
        assert c.ap == pytest.approx(float(np.mean([np.mean(k.precision) for k in curves])))


def test_each_source_of_a_frame_is_matched_apart(tmp_path: Path) -> None:
    """ROIs of a frame group are compared per source; on a frame with one source, ROIs naming
    no source are compared with those naming it."""
    import workbench
    from workbench.ingest.writer import CatalogWriter
    from workbench.model.geometry import box_ring
    from workbench.model.records import Frame, Roi, Source

    def box(roi_id: str, field: str, sources: list[str], confidence: float | None = None) -> Roi:
        return Roi(
            id=roi_id,
            kind="box",
            labels=["car"],
            field=field,
            geometry=[box_ring(10, 10, 50, 40)],
            confidence=confidence,
            source_ids=sources,
        )

    pair = [Source("left", "/l.jpg", 100, 100), Source("right", "/r.jpg", 100, 100)]
    frames = [
        Frame(
            "group",
            sources=pair,
            rois=[
                box("g1", "ground_truth", ["left"]),
                box("p1", "predictions", ["right"], 0.9),  # same place, other camera
                box("g2", "ground_truth", ["right"]),
                box("p2", "predictions", ["right"], 0.8),
            ],
        ),
        Frame(
            "single",
            sources=[Source("image", "/s.jpg", 100, 100)],
            rois=[
                box("g1", "ground_truth", []),
                box("p1", "predictions", ["image"], 0.7),
            ],
        ),
    ]
    with workbench.open(tmp_path / "groups.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False) as writer:
            for frame in frames:
                writer.add(frame)
        catalog.evaluate_detections("predictions")
        found = dict(
            catalog.sql(
                "SELECT frame_id || '/' || roi_id || '/' || field, outcome || ':' || coalesce(match_id, '-')"
                " FROM eval_rois"
            ).fetchall()
        )
    assert found == {
        "group/g1/ground_truth": "fn:-",
        "group/p1/predictions": "tp:g2",
        "group/g2/ground_truth": "tp:p1",
        "group/p2/predictions": "fp:-",
        "single/g1/ground_truth": "tp:p1",
        "single/p1/predictions": "tp:g1",
    }


def test_ties_are_broken_the_same_way_whatever_the_query_plan(tmp_path: Path) -> None:
    """Equal confidences are common (scores rounded by a detector): ties follow stored order,
    so a view (whose joins may return rows in any order) gives the same results as the whole
    catalog."""
    import workbench
    from workbench.ingest.writer import CatalogWriter
    from workbench.model.geometry import box_ring
    from workbench.model.records import Frame, Roi, Source

    rng = np.random.default_rng(5)
    frames = []
    for i in range(400):
        rois = []
        for k in range(4):
            x, y = rng.uniform(0, 80, 2)
            rois.append(
                Roi(id=f"g{k}", kind="box", labels=["car"], geometry=[box_ring(x, y, 20, 20)])
            )
            dx, dy = rng.normal(0, 4, 2)
            score = float(rng.integers(1, 4)) / 4  # three distinct scores only
            rois.append(
                Roi(
                    id=f"p{k}",
                    kind="box",
                    labels=["car"],
                    field="predictions",
                    geometry=[box_ring(x + dx, y + dy, 20, 20)],
                    confidence=score,
                )
            )
        frames.append(
            Frame(f"f{i:04d}", sources=[Source("image", f"/{i}.jpg", 100, 100)], rois=rois)
        )
    with workbench.open(tmp_path / "ties.duckdb") as catalog:
        with CatalogWriter(catalog, progress=False, batch_size=37) as writer:
            for frame in frames:
                writer.add(frame)
        whole = catalog.evaluate_detections("predictions", eval_key="whole")
        view = catalog.view().where("f.id >= ?", "f0000").sort_by("id", reverse=True)
        part = view.evaluate_detections("predictions", eval_key="view")
        assert part.mAP == whole.mAP and part.stats == whole.stats
        assert [c.precision for c in part.curves] == [c.precision for c in whole.curves]


def test_rows_are_put_back_in_stored_order() -> None:
    import pyarrow as pa

    from workbench.analysis.evaluation.loading import _columns

    rowid = np.random.default_rng(2).permutation(1000)
    table = pa.table({"roi_id": [f"r{i}" for i in rowid], "_row": rowid})
    columns = _columns(table)
    assert columns["roi_id"].to_pylist() == [f"r{i}" for i in range(1000)]
    assert "_row" not in columns


def test_a_read_only_catalog_is_refused_before_any_work(catalog: Catalog) -> None:
    import workbench

    catalog.evaluate_detections("predictions")
    path = catalog.path
    catalog.close()
    with workbench.open(path, read_only=True) as reader:
        assert reader.load_evaluation_results("eval").mAP is not None
        for call in (
            lambda: reader.evaluate_detections("predictions", eval_key="again"),
            lambda: reader.rename_evaluation("eval", "other"),
            lambda: reader.delete_evaluation("eval", confirm=True),
        ):
            with pytest.raises(EvaluationError, match="read-only"):
                call()
