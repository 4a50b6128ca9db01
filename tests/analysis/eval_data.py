"""Generated COCO datasets for the evaluation tests, and pycocotools' verdict on them.

`make_dataset` writes a ground-truth instances file and a detections results file (plain COCO,
as detectors write them) with crowds, several classes and images, objects of every COCO area
range, images with more detections than COCO's caps (10 and 100), near-duplicate detections
and wrong-class detections. Both files go through the project's COCO importer into a real
DuckDB catalog; pycocotools' COCOeval reads the very same files.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import workbench
from workbench.ingest import coco
from workbench.store.catalog import Catalog

CATEGORIES = [
    {"id": 1, "name": "car"},
    {"id": 2, "name": "person"},
    {"id": 5, "name": "bicycle"},
    {"id": 7, "name": "dog"},
    {"id": 9, "name": "absent"},  # in the category list, never annotated
]
PREFIX = "gt:"


@dataclass(frozen=True)
class Dataset:
    gt_path: Path
    dt_path: Path  # what the catalog imports
    coco_dt_path: Path  # what pycocotools reads (RLE where the catalog holds polygons)
    mode: str  # "bbox" or "segm"


def _box(rng: np.random.Generator, width: int, height: int) -> list[float]:
    # Sizes spread over COCO's small (< 32^2), medium and large (> 96^2) ranges.
    side = float(np.exp(rng.uniform(np.log(4), np.log(min(width, height) * 0.9))))
    w = side * rng.uniform(0.5, 1.5)
    h = side * rng.uniform(0.5, 1.5)
    w, h = min(w, width - 1.0), min(h, height - 1.0)
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return [float(x), float(y), float(w), float(h)]


def _jitter(rng: np.random.Generator, box: list[float], scale: float) -> list[float]:
    x, y, w, h = box
    dx, dy = rng.normal(0, scale * w), rng.normal(0, scale * h)
    w2, h2 = w * np.exp(rng.normal(0, scale)), h * np.exp(rng.normal(0, scale))
    return [float(x + dx), float(y + dy), float(max(w2, 1.0)), float(max(h2, 1.0))]


def _polygon(rng: np.random.Generator, box: list[float]) -> list[float]:
    """A star-shaped ring inside the box."""
    x, y, w, h = box
    k = int(rng.integers(3, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radius = rng.uniform(0.4, 1.0, k)
    xs = x + w / 2 + np.cos(angles) * radius * w / 2
    ys = y + h / 2 + np.sin(angles) * radius * h / 2
    return [float(v) for pair in zip(xs, ys, strict=True) for v in pair]


def _images(rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i + 1,
            "file_name": f"img{i + 1}.jpg",
            "width": int(rng.integers(60, 260)),
            "height": int(rng.integers(60, 200)),
        }
        for i in range(count)
    ]


def make_dataset(
    folder: Path,
    *,
    seed: int,
    images: int = 30,
    mode: str = "bbox",
    crowd_rate: float = 0.1,
    polygon_predictions: bool = False,
    busy_images: int = 2,
    write_images: bool = False,
) -> Dataset:
    rng = np.random.default_rng(seed)
    imgs = _images(rng, images)
    cat_ids = [c["id"] for c in CATEGORIES[:-1]]
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    coco_results: list[dict[str, Any]] = []
    for image in imgs:
        w, h = image["width"], image["height"]
        busy = image["id"] <= busy_images
        for _ in range(int(rng.integers(0, 9 if not busy else 30))):
            box = _box(rng, w, h)
            category = int(rng.choice(cat_ids))
            crowd = bool(rng.random() < crowd_rate)
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image["id"],
                "category_id": category,
                "bbox": box,
                "iscrowd": int(crowd),
            }
            ring = _polygon(rng, box)
            if mode == "segm":
                if crowd:
                    rle = mask_utils.merge(mask_utils.frPyObjects([ring], h, w))
                    counts = mask_utils.decode(rle).ravel(order="F")
                    runs = np.diff(np.flatnonzero(np.diff(np.concatenate(([2], counts, [2])))))
                    runs = runs.tolist() if counts[0] == 0 else [0, *runs.tolist()]
                    ann["segmentation"] = {"size": [h, w], "counts": runs}
                else:
                    ann["segmentation"] = [ring]
                ann["area"] = float(
                    mask_utils.area(mask_utils.merge(mask_utils.frPyObjects([ring], h, w)))
                )
            else:
                # A stated area unlike the box's own, so tests see which one is used.
                ann["area"] = box[2] * box[3] * float(rng.uniform(0.6, 1.0))
            annotations.append(ann)
            for _ in range(int(rng.integers(0, 3))):
                if rng.random() < 0.8:
                    wrong = rng.random() < 0.1
                    label = int(rng.choice(cat_ids)) if wrong else category
                    moved = _jitter(rng, box, 0.08)
                    shifted = [
                        v + (moved[i % 2] - box[i % 2]) + float(rng.normal(0, 1.0))
                        for i, v in enumerate(ring)
                    ]
                    _detect(
                        rng,
                        results,
                        coco_results,
                        image,
                        moved,
                        label,
                        mode,
                        polygon_predictions,
                        shifted,
                    )
        extra = int(rng.integers(0, 4)) + (110 if busy else 0)
        for _ in range(extra):
            _detect(
                rng,
                results,
                coco_results,
                image,
                _box(rng, w, h),
                int(rng.choice(cat_ids)),
                mode,
                polygon_predictions,
            )
    gt = {"images": imgs, "annotations": annotations, "categories": CATEGORIES}
    folder.mkdir(parents=True, exist_ok=True)
    gt_path, dt_path, coco_dt_path = folder / "gt.json", folder / "dt.json", folder / "dt_coco.json"
    gt_path.write_text(json.dumps(gt))
    if write_images:  # plain grey pictures, for tests that send frames to annotation
        from PIL import Image

        for image in imgs:
            Image.new("RGB", (image["width"], image["height"]), (90, 90, 90)).save(
                folder / image["file_name"]
            )
    dt_path.write_text(json.dumps(results))
    coco_dt_path.write_text(json.dumps(coco_results))
    return Dataset(gt_path, dt_path, coco_dt_path, mode)


def _detect(
    rng: np.random.Generator,
    results: list[dict[str, Any]],
    coco_results: list[dict[str, Any]],
    image: dict[str, Any],
    box: list[float],
    category: int,
    mode: str,
    polygons: bool,
    ring: list[float] | None = None,
) -> None:
    # Detections of real objects tend to score higher than stray ones.
    score = float(rng.uniform(0.3, 0.99) if ring is not None else rng.uniform(0.01, 0.8))
    det: dict[str, Any] = {"image_id": image["id"], "category_id": category, "score": score}
    if mode == "bbox":
        det["bbox"] = box
        results.append(det)
        coco_results.append(dict(det))
        return
    ring = ring if ring is not None else _polygon(rng, box)
    h, w = image["height"], image["width"]
    rle = mask_utils.merge(mask_utils.frPyObjects([ring], h, w))
    rle = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
    results.append({**det, "segmentation": [ring] if polygons else rle})
    coco_results.append({**det, "segmentation": rle})


def import_dataset(data: Dataset, catalog_path: Path) -> Catalog:
    catalog = workbench.open(catalog_path)
    report = coco.import_files(catalog, [data.gt_path], progress=False)
    assert report.ok, str(report)
    report = coco.import_files(catalog, [data.dt_path], id_prefix=PREFIX, progress=False)
    assert report.ok, str(report)
    return catalog


def cocoeval(
    data: Dataset,
    *,
    use_cats: bool = True,
    max_dets: list[int] | None = None,
    iou_thresholds: list[float] | None = None,
    all_areas: bool = False,
    image_ids: list[int] | None = None,
) -> COCOeval:
    """COCOeval run on the dataset's files; summarize() only with the default parameters."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(data.gt_path))
        dt = gt.loadRes(str(data.coco_dt_path))
        evaluator = COCOeval(gt, dt, data.mode)
        params = evaluator.params
        params.useCats = int(use_cats)
        if max_dets is not None:
            params.maxDets = max_dets
        if iou_thresholds is not None:
            params.iouThrs = np.array(iou_thresholds)
        if all_areas:
            params.areaRng, params.areaRngLbl = [[0, 1e10]], ["all"]
        if image_ids is not None:
            params.imgIds = image_ids
        evaluator.evaluate()
        evaluator.accumulate()
        if max_dets is None and iou_thresholds is None and not all_areas:
            evaluator.summarize()
    return evaluator


def mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0


def coco_class_ap(evaluator: COCOeval) -> dict[str, float | None]:
    """Per-class AP as our results define it: precision[:, :, k, all areas, last cap]."""
    names = {c["id"]: c["name"] for c in CATEGORIES}
    out: dict[str, float | None] = {}
    for k, cat_id in enumerate(evaluator.params.catIds):
        values = evaluator.eval["precision"][:, :, k, 0, -1]
        defined = values[values > -1]
        out[names[cat_id]] = float(np.mean(defined)) if defined.size else None
    return out


Outcomes = dict[tuple[str, str, str], tuple[str, str | None]]


def assert_outcomes_equal(
    found: Outcomes, images: list[Any]
) -> tuple[int, set[tuple[str, str, str]]]:
    """Assert each ROI's (outcome, match id) in `found` ((frame, field, roi id) keys) is what
    COCOeval's per-image results (`evalImgs`, the whole area range) say; returns how many ROIs
    were checked and the predictions COCOeval looked at."""
    checked, seen = 0, set()
    for image in images:
        if image is None or image["aRng"] != [0, 1e10]:
            continue
        frame = f"{PREFIX}{image['image_id']}"
        for n, dt_id in enumerate(image["dtIds"]):
            key = (frame, "predictions", str(dt_id))
            match = int(image["dtMatches"][0][n])
            expected = "ignored" if image["dtIgnore"][0][n] else "tp" if match else "fp"
            assert found[key] == (expected, str(match) if match else None), key
            seen.add(key)
            checked += 1
        for n, gt_id in enumerate(image["gtIds"]):
            key = (frame, "ground_truth", str(gt_id))
            match = int(image["gtMatches"][0][n])
            if image["gtIgnore"][n]:
                assert found[key][0] == "ignored", key
            else:
                assert found[key] == ("tp" if match else "fn", str(match) if match else None), key
            checked += 1
    return checked, seen
