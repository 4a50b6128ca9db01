"""method="open-images" against a case worked out by hand (Open Images' challenge rules, as
TensorFlow's Object Detection API applies them): a duplicate that COCO would rematch, a
group-of box absorbing detections, VOC-style AP."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import workbench
from workbench.analysis.evaluation import open_images
from workbench.analysis.evaluation.config import EvaluationConfig
from workbench.analysis.evaluation.loading import Rois, load_rois
from workbench.analysis.evaluation.outcomes import FN, FP, IGNORED, TP
from workbench.errors import EvaluationError
from workbench.ingest import CatalogWriter, Frame, Roi, Source
from workbench.store.catalog import Catalog


def corners(x0: float, y0: float, x1: float, y1: float) -> list[float]:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def box(roi_id: str, label: str, x0: float, y0: float, x1: float, y1: float, **more) -> Roi:
    return Roi(roi_id, "box", [label], geometry=[corners(x0, y0, x1, y1)], **more)


def pred(roi_id: str, label: str, confidence: float, *xy: float) -> Roi:
    return box(roi_id, label, *xy, field="predictions", confidence=confidence)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    catalog = workbench.open(tmp_path / "oi.duckdb")
    rois = [
        box("g1", "car", 0, 0, 10, 10),
        box("g2", "car", 3, 0, 13, 10),  # overlaps g1
        box("G", "car", 50, 0, 100, 50, attributes={"iscrowd": 1}),  # a group of cars
        box("g3", "dog", 0, 20, 10, 30),
        pred("d1", "car", 0.9, 0, 0, 10, 10),  # g1, IoU 1
        pred("d2", "car", 0.8, 1, 0, 11, 10),  # best g1 (0.818, taken); g2 0.667
        pred("d3", "car", 0.7, 60, 10, 70, 20),  # inside the group
        pred("d4", "car", 0.95, 55, 5, 65, 15),  # inside the group, most confident
        pred("d5", "car", 0.6, 200, 200, 210, 210),  # nothing there
        pred("d6", "dog", 0.5, 0, 20, 10, 30),
    ]
    with CatalogWriter(catalog, progress=False) as writer:
        writer.add(Frame(id="img", sources=[Source("image", "/x/img.jpg", 300, 300)], rois=rois))
    yield catalog
    catalog.close()


def outcomes(catalog: Catalog, key: str) -> dict[str, tuple[str, str | None]]:
    rows = catalog.sql(
        "SELECT e.roi_id, e.outcome, e.match_id FROM eval_rois e JOIN evaluations v"
        " USING (run_id) WHERE v.eval_key = ?",
        [key],
    ).fetchall()
    return {roi: (outcome, match) for roi, outcome, match in rows}


def test_open_images_rules_on_a_hand_worked_case(catalog: Catalog) -> None:
    results = catalog.evaluate_detections("predictions", eval_key="oi", method="open-images")
    assert outcomes(catalog, "oi") == {
        "d1": ("tp", "g1"),
        "d2": ("fp", None),  # its best match was taken: a duplicate, not rematched to g2
        "d3": ("ignored", "G"),  # absorbed by the group box
        "d4": ("ignored", "G"),
        "d5": ("fp", None),
        "d6": ("tp", "g3"),
        "g1": ("tp", "d1"),
        "g2": ("fn", None),
        "G": ("tp", "d4"),  # found, at the confidence of its most confident detection
        "g3": ("tp", "d6"),
    }
    # car: ranked 0.95 (G) tp, 0.9 tp, 0.8 fp, 0.6 fp against 3 objects: recall reaches 2/3
    # at precision 1, never 1: AP = 1/3 + 1/3 = 2/3. dog: AP 1.
    assert results.ap("car") == pytest.approx(2 / 3)
    assert results.ap("dog") == pytest.approx(1.0)
    assert results.mAP == pytest.approx(5 / 6)
    car = results.counts("car")
    assert (car.tp, car.fp, car.fn, car.support) == (1, 2, 1, 3)
    assert results.confusion.count("car", "(none)") == 1  # g2
    curve = results.curve("car")
    assert curve.precision[0] == 1.0 and curve.precision[-1] == 0.0
    assert curve.scores[0] == pytest.approx(0.95)
    # COCO's rules rematch d2 to g2 and count the group box as a crowd
    coco = catalog.evaluate_detections("predictions", eval_key="coco", method="coco")
    assert outcomes(catalog, "coco")["d2"] == ("tp", "g2")
    assert coco.counts("car").support == 2
    again = catalog.load_evaluation_results("oi")
    assert again.mAP == pytest.approx(5 / 6) and again.config.method == "open-images"


def test_open_images_compares_boxes_of_one_class(catalog: Catalog) -> None:
    for options in ({"classwise": False}, {"use_masks": True}):
        with pytest.raises(EvaluationError, match="open-images"):
            catalog.evaluate_detections("predictions", method="open-images", **options)


def reference_match(rois: Rois, threshold: float) -> tuple[list[int], list[int], list[float]]:
    """Open Images' rules written as the loop over images and detections they describe."""
    n = len(rois)
    code = [FP if p else FN for p in rois.is_pred]
    match_row, iou_out = [-1] * n, [math.nan] * n
    groups: dict[tuple[int, int], list[int]] = {}
    for row in range(n):
        groups.setdefault((int(rois.image[row]), int(rois.label_codes[row])), []).append(row)

    def overlap(d: int, g: int, over_detection: bool) -> float:
        (a, b, c, e), (p, q, r, s) = rois.boxes[d], rois.boxes[g]
        w, h = min(c, r) - max(a, p), min(e, s) - max(b, q)
        inter = w * h if w > 0 and h > 0 else 0.0
        area = (c - a) * (e - b)
        union = area if over_detection else area + (r - p) * (s - q) - inter
        return inter / union if inter > 0 and union > 0 else 0.0

    for rows in groups.values():
        dets = sorted((r for r in rows if rois.is_pred[r]), key=lambda r: -rois.score[r])
        plain = [r for r in rows if not rois.is_pred[r] and not rois.crowd[r]]
        boxes = [r for r in rows if not rois.is_pred[r] and rois.crowd[r]]
        taken: set[int] = set()
        for d in dets:
            if not plain:
                break
            best = max(plain, key=lambda g: (overlap(d, g, False), -g))
            value = overlap(d, best, False)
            if value >= threshold and best not in taken:
                taken.add(best)
                code[d] = code[best] = TP
                match_row[d], match_row[best] = best, d
                iou_out[d] = iou_out[best] = value
        for d in dets:
            if code[d] == TP or not boxes:
                continue
            best = max(boxes, key=lambda g: (overlap(d, g, True), -g))
            value = overlap(d, best, True)
            if value >= threshold:
                code[d], match_row[d], iou_out[d] = IGNORED, best, value
                if code[best] != TP:
                    code[best], match_row[best], iou_out[best] = TP, d, value
    return code, match_row, iou_out


def test_set_based_matching_equals_the_loop_on_random_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    frames = []
    for f in range(120):
        rois = []
        for k in range(int(rng.integers(0, 9))):  # coordinates on a coarse grid: equal IoUs
            x, y = rng.integers(0, 8, 2) * 5
            w, h = rng.integers(1, 5, 2) * 5
            label = ["car", "dog"][int(rng.integers(0, 2))]
            crowd = {"iscrowd": 1} if rng.random() < 0.15 else {}
            rois.append(box(f"g{f}-{k}", label, x, y, x + w, y + h, attributes=crowd))
        for k in range(int(rng.integers(0, 11))):
            x, y = rng.integers(0, 8, 2) * 5
            w, h = rng.integers(1, 5, 2) * 5
            label = ["car", "dog"][int(rng.integers(0, 2))]
            score = float(rng.integers(1, 6)) / 5  # equal confidences too
            rois.append(pred(f"p{f}-{k}", label, score, x, y, x + w, y + h))
        frames.append(
            Frame(id=f"f{f}", sources=[Source("image", f"/x/{f}.jpg", 64, 64)], rois=rois)
        )
    catalog = workbench.open(tmp_path / "random.duckdb")
    with CatalogWriter(catalog, progress=False) as writer:
        for frame in frames:
            writer.add(frame)
    rois, _ = load_rois(catalog.view(), "predictions", "ground_truth", False)
    catalog.close()
    assert rois.crowd.sum() > 10 and len(rois) > 800
    for threshold in (0.5, 0.3):
        config = EvaluationConfig.build(method="open-images", iou=threshold)
        found, entries, _ = open_images.match(rois, config)
        code, match_row, iou = reference_match(rois, threshold)
        assert found.code.tolist() == code
        assert found.match_row.tolist() == match_row
        np.testing.assert_allclose(found.iou, iou, rtol=0, atol=1e-12)
        counted = sum(1 for r, c in enumerate(code) if rois.is_pred[r] and c != IGNORED)
        detected_boxes = sum(1 for r, c in enumerate(code) if rois.crowd[r] and c == TP)
        assert len(entries) == counted + detected_boxes
        assert {TP, FP, FN, IGNORED} <= set(code)
