"""method="open-images" against a case worked out by hand (Open Images' challenge rules, as
TensorFlow's Object Detection API applies them): a duplicate that COCO would rematch, a
group-of box absorbing detections, VOC-style AP."""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
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
