"""mAP, per-class AP and per-ROI outcomes equal pycocotools' COCOeval on the same COCO files.

Each dataset is written as plain COCO files, imported with the project's COCO importer into a
real catalog, evaluated there, and evaluated by COCOeval from the very same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.analysis.evaluation import DetectionResults
from workbench.store.catalog import Catalog

from .eval_data import (
    CATEGORIES,
    Dataset,
    assert_outcomes_equal,
    coco_class_ap,
    cocoeval,
    import_dataset,
    make_dataset,
    mean_defined,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:optional cpu_nms:UserWarning"),
]

STATS = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


def _assert_same(results: DetectionResults, data: Dataset, *, use_cats: bool = True) -> None:
    evaluator = cocoeval(data, use_cats=use_cats)
    mine = np.array([results.stats[name] for name in STATS])
    assert np.allclose(mine, evaluator.stats, rtol=0, atol=1e-9), (mine, evaluator.stats)
    assert results.mAP == pytest.approx(evaluator.stats[0], abs=1e-9)
    assert 0.01 < evaluator.stats[0] < 0.9  # a dataset that discriminates
    if use_cats:
        expected = coco_class_ap(evaluator)
        for c in results.classes:
            assert (c.ap is None) == (expected[c.label] is None)
            assert c.ap == pytest.approx(expected[c.label], abs=1e-9), c.label


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_boxes_match_cocoeval(tmp_path: Path, seed: int) -> None:
    data = make_dataset(tmp_path / "data", seed=seed)
    with import_dataset(data, tmp_path / "c.duckdb") as catalog:
        _assert_same(catalog.evaluate_detections("predictions"), data)


@pytest.mark.parametrize(("seed", "polygons"), [(3, False), (4, False), (5, True), (6, True)])
def test_masks_and_polygons_match_cocoeval_segm(tmp_path: Path, seed: int, polygons: bool) -> None:
    data = make_dataset(tmp_path / "data", seed=seed, mode="segm", polygon_predictions=polygons)
    with import_dataset(data, tmp_path / "c.duckdb") as catalog:
        kinds = dict(catalog.sql("SELECT field || kind, count(*) FROM rois GROUP BY 1").fetchall())
        assert kinds.get("predictionspolygon" if polygons else "predictionsmask")
        assert kinds.get("ground_truthmask") and kinds.get("ground_truthpolygon")  # crowds are RLE
        _assert_same(catalog.evaluate_detections("predictions", use_masks=True), data)


def test_classwise_false_matches_cocoeval_without_categories(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", seed=8)
    with import_dataset(data, tmp_path / "c.duckdb") as catalog:
        results = catalog.evaluate_detections("predictions", classwise=False)
        _assert_same(results, data, use_cats=False)
        assert all(c.ap is None for c in results.classes)
        # A prediction matched to ground truth of another label is a false positive, and that
        # ground truth a false negative; the confusion matrix shows the pair off the diagonal.
        crossed = catalog.sql(
            "SELECT count(*) FROM eval_rois d JOIN eval_rois g ON g.frame_id = d.frame_id"
            " AND g.roi_id = d.match_id AND g.field = 'ground_truth'"
            " WHERE d.field = 'predictions' AND d.label <> g.label AND d.outcome = 'fp'"
            " AND g.outcome = 'fn'"
        ).fetchall()[0][0]
        assert crossed > 0
        off_diagonal = sum(
            results.confusion.count(a, b) for a in ("car", "dog") for b in ("person", "bicycle")
        )
        assert off_diagonal > 0


def test_detection_caps_bind(tmp_path: Path) -> None:
    """Busy images hold more detections of one class than the caps 1, 10 and 100 (and a custom
    cap of 3): AR1, AR10 and AR100 differ, and equal COCOeval's."""
    data = make_dataset(tmp_path / "data", seed=9, busy_images=3)
    with import_dataset(data, tmp_path / "c.duckdb") as catalog:
        per_class = catalog.sql(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM rois WHERE field = 'predictions'"
            " GROUP BY frame_id, label)"
        ).fetchall()[0][0]
        assert per_class > 10
        results = catalog.evaluate_detections("predictions")
        _assert_same(results, data)
        assert len({results.stats["AR1"], results.stats["AR10"], results.stats["AR100"]}) == 3
        capped = catalog.evaluate_detections("predictions", eval_key="caps", max_dets=[1, 3])
        evaluator = cocoeval(data, max_dets=[1, 3])
        precision, recall = evaluator.eval["precision"], evaluator.eval["recall"]
        assert capped.mAP == pytest.approx(mean_defined(precision[:, :, :, 0, -1]), abs=1e-9)
        assert capped.stats["AR3"] == pytest.approx(mean_defined(recall[:, :, 0, 1]), abs=1e-9)
        assert capped.stats["AR1"] == pytest.approx(mean_defined(recall[:, :, 0, 0]), abs=1e-9)
        assert capped.mAP != results.mAP


def _outcomes(
    catalog: Catalog, eval_key: str
) -> dict[tuple[str, str, str], tuple[str, str | None]]:
    rows = catalog.sql(
        "SELECT e.frame_id, e.field, e.roi_id, e.outcome, e.match_id FROM eval_rois e"
        " JOIN evaluations v USING (run_id) WHERE v.eval_key = ?",
        [eval_key],
    ).fetchall()
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


@pytest.mark.parametrize("mode", ["bbox", "segm"])
def test_per_roi_outcomes_equal_eval_imgs(tmp_path: Path, mode: str) -> None:
    data = make_dataset(tmp_path / "data", seed=12, mode=mode, busy_images=1)
    with import_dataset(data, tmp_path / "c.duckdb") as catalog:
        catalog.evaluate_detections("predictions", use_masks=mode == "segm")
        found = _outcomes(catalog, "eval")
    evaluator = cocoeval(data)
    checked, seen_dt = assert_outcomes_equal(found, evaluator.evalImgs)
    assert checked > 300
    # Detections COCOeval never looked at (beyond 100 per image and class) are ignored.
    beyond = {k: v for k, v in found.items() if k[1] == "predictions" and k not in seen_dt}
    assert all(v == ("ignored", None) for v in beyond.values())
    stats = {o: sum(1 for v in found.values() if v[0] == o) for o in ("tp", "fp", "fn", "ignored")}
    assert min(stats.values()) > 0, stats


def test_kwcoco_demo_data(tmp_path: Path) -> None:
    """A COCO file written by a third-party tool (kwcoco's demo shapes), with predictions made
    by moving and rescoring its objects, imported with the COCO importer."""
    kwcoco = pytest.importorskip("kwcoco")
    from pycocotools import mask as mask_utils

    dset = kwcoco.CocoDataset.demo("shapes16", dpath=str(tmp_path / "kw"), verbose=0)
    dset.conform(legacy=True)
    gt_path = tmp_path / "shapes.json"
    dset.dump(str(gt_path), newlines=False)
    gt = json.loads(gt_path.read_text())
    rng = np.random.default_rng(21)
    sizes = {img["id"]: (img["height"], img["width"]) for img in gt["images"]}
    boxes, masks = [], []
    for ann in gt["annotations"]:
        if rng.random() < 0.15:
            continue  # missed
        dx, dy = rng.normal(0, 3, 2)
        x, y, w, h = ann["bbox"]
        score = float(rng.uniform(0.2, 1.0))
        category = ann["category_id"] if rng.random() > 0.1 else int(rng.choice([3, 6, 7]))
        boxes.append(
            {
                "image_id": ann["image_id"],
                "category_id": category,
                "score": score,
                "bbox": [x + dx, y + dy, w * rng.uniform(0.85, 1.15), h * rng.uniform(0.85, 1.15)],
            }
        )
        rings = [
            [v + (dx if i % 2 == 0 else dy) for i, v in enumerate(r)] for r in ann["segmentation"]
        ]
        rle = mask_utils.merge(mask_utils.frPyObjects(rings, *sizes[ann["image_id"]]))
        masks.append(
            {
                "image_id": ann["image_id"],
                "category_id": category,
                "score": score,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
            }
        )
    for image_id, (h, w) in sizes.items():
        for _ in range(int(rng.integers(0, 4))):  # stray detections
            x, y = rng.uniform(0, w - 40), rng.uniform(0, h - 40)
            score = float(rng.uniform(0.0, 0.6))
            category = int(rng.choice([3, 6, 7]))
            boxes.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "score": score,
                    "bbox": [x, y, 30.0, 30.0],
                }
            )
            ring = [[x, y, x + 30, y, x + 30, y + 30, x, y + 30]]
            rle = mask_utils.merge(mask_utils.frPyObjects(ring, h, w))
            masks.append(
                {
                    "image_id": image_id,
                    "category_id": category,
                    "score": score,
                    "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
                }
            )
    for mode, dets, use_masks in (("bbox", boxes, False), ("segm", masks, True)):
        dt_path = tmp_path / f"dt_{mode}.json"
        dt_path.write_text(json.dumps(dets))
        data = Dataset(gt_path, dt_path, dt_path, mode)
        import workbench
        from workbench.ingest import coco

        with workbench.open(tmp_path / f"{mode}.duckdb") as catalog:
            assert coco.import_files(catalog, [gt_path], progress=False).ok
            report = coco.import_files(catalog, [dt_path], id_prefix="shapes:", progress=False)
            assert report.ok, str(report)
            results = catalog.evaluate_detections("predictions", use_masks=use_masks)
        evaluator = cocoeval(data)
        assert results.mAP == pytest.approx(evaluator.stats[0], abs=1e-9)
        assert np.allclose([results.stats[s] for s in STATS], evaluator.stats, atol=1e-9)
        assert results.mAP > 0.2


def test_curves_equal_cocoeval_precision_and_scores(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "data", seed=13, busy_images=2)
    with import_dataset(data, tmp_path / "c.duckdb") as catalog:
        results = catalog.evaluate_detections("predictions")
    evaluator = cocoeval(data)
    names = {c["id"]: c["name"] for c in CATEGORIES}
    compared = 0
    for k, cat_id in enumerate(evaluator.params.catIds):
        for t, iou in enumerate(evaluator.params.iouThrs):
            expected = evaluator.eval["precision"][t, :, k, 0, -1]
            if expected[0] == -1:
                with pytest.raises(KeyError):
                    results.curve(names[cat_id], iou)
                continue
            curve = results.curve(names[cat_id], iou)
            assert np.array_equal(curve.precision, expected)
            assert np.array_equal(curve.scores, evaluator.eval["scores"][t, :, k, 0, -1])
            assert np.array_equal(curve.recall, evaluator.params.recThrs)
            compared += 1
    assert compared >= 30
    # The whole recall array too: every class, area range and cap.
    recall = evaluator.eval["recall"]
    assert recall.shape[1] == len(results.classes) + 1  # "absent" has no ground truth
