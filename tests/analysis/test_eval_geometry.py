"""The geometry kernels (workbench.model) against pycocotools' own C implementation."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from workbench.model import box_areas, box_iou, decode_rle_strings, rasterise_polygons
from workbench.model.regions import Regions, region_iou

# pycocotools' decode warns under numpy 2 (copy keyword); the values are right.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

H, W = 57, 83


def _runs(regions: Regions, i: int) -> np.ndarray:
    return regions.bounds[regions.offsets[i] : regions.offsets[i + 1]]


def _coco_runs(rle: dict) -> np.ndarray:
    """Run boundaries [start, end, start, end, ...] of a pycocotools RLE, from its bitmap."""
    flat = mask_utils.decode(rle).ravel(order="F").astype(np.int64)
    return np.flatnonzero(np.diff(np.concatenate(([0], flat, [0]))))


def _random_polygons(rng: np.random.Generator, count: int) -> list[list[list[float]]]:
    polygons = []
    for _ in range(count):
        rings = []
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(3, 9))
            cx, cy = rng.uniform(-10, W + 10), rng.uniform(-10, H + 10)
            points = np.stack([cx + rng.normal(0, 15, k), cy + rng.normal(0, 12, k)], 1)
            if rng.random() < 0.3:
                points = np.round(points)  # vertices on pixel corners: many exact ties
            if rng.random() < 0.1:
                points[1] = points[0]  # a repeated vertex: a zero-length edge
            rings.append(points.ravel().tolist())
        polygons.append(rings)
    return polygons


def _rasterise(polygons: list[list[list[float]]]) -> Regions:
    rings = [ring for polygon in polygons for ring in polygon]
    coords = np.concatenate([np.asarray(r) for r in rings])
    offsets = np.concatenate(([0], np.cumsum([len(r) for r in rings])))
    owner = np.repeat(np.arange(len(polygons)), [len(p) for p in polygons])
    n = len(polygons)
    return rasterise_polygons(coords, offsets, owner, np.full(n, H), np.full(n, W))


@pytest.fixture(scope="module")
def polygons() -> list[list[list[float]]]:
    return _random_polygons(np.random.default_rng(7), 250)


@pytest.fixture(scope="module")
def coco_rles(polygons: list[list[list[float]]]) -> list[dict]:
    return [mask_utils.merge(mask_utils.frPyObjects(p, H, W)) for p in polygons]


def test_polygons_rasterise_exactly_as_pycocotools(polygons, coco_rles) -> None:
    regions = _rasterise(polygons)
    for i, rle in enumerate(coco_rles):
        assert np.array_equal(_runs(regions, i), _coco_runs(rle)), f"polygon {i}"
    assert regions.areas().tolist() == [int(mask_utils.area(r)) for r in coco_rles]


def test_rle_strings_decode_to_the_same_regions(polygons, coco_rles) -> None:
    strings = [r["counts"].decode() for r in coco_rles]
    data = "".join(strings).encode()
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in strings])))
    n = len(strings)
    decoded = decode_rle_strings(data, offsets, np.full(n, H), np.full(n, W))
    rasterised = _rasterise(polygons)
    assert decoded.valid.all()
    assert np.array_equal(decoded.offsets, rasterised.offsets)
    assert np.array_equal(decoded.bounds, rasterised.bounds)
    boxes = mask_utils.toBbox(coco_rles)
    pixel = decoded.pixel_boxes()
    filled = decoded.areas() > 0
    assert np.array_equal(pixel[filled, 0], boxes[filled, 0])
    assert np.array_equal(pixel[filled, 3], boxes[filled, 1] + boxes[filled, 3] - 1)


def test_region_iou_equals_pycocotools_with_crowds(coco_rles) -> None:
    strings = [r["counts"].decode() for r in coco_rles]
    data = "".join(strings).encode()
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in strings])))
    n = len(strings)
    regions = decode_rle_strings(data, offsets, np.full(n, H), np.full(n, W))
    crowd = np.random.default_rng(3).random(n) < 0.3
    expected = mask_utils.iou(coco_rles, coco_rles, crowd.astype(np.uint8))
    det, truth = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    found = region_iou(regions, det, regions, truth, crowd[truth])
    assert np.array_equal(found, expected.ravel())


def test_malformed_rle_strings_cost_only_themselves(coco_rles) -> None:
    good = coco_rles[4]["counts"].decode()
    strings = ["", "0", "zz", good[:-1] + "\x7f", good, "1" * 13]
    data = "".join(strings).encode()
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in strings])))
    decoded = decode_rle_strings(data, offsets, np.full(6, H), np.full(6, W))
    assert decoded.valid.tolist() == [False, False, False, False, True, False]
    assert decoded.areas().tolist() == [0, 0, 0, 0, int(mask_utils.area(coco_rles[4])), 0]


def test_box_iou_equals_pycocotools() -> None:
    rng = np.random.default_rng(11)
    xywh = np.column_stack([rng.uniform(0, 50, (200, 2)), rng.uniform(0, 30, (200, 2))])
    xywh[:20, 2] = 0  # boxes without width overlap nothing
    corners = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
    crowd = rng.random(200) < 0.3
    expected = mask_utils.iou(xywh, xywh, crowd.astype(np.uint8))
    det, truth = (a.ravel() for a in np.meshgrid(np.arange(200), np.arange(200), indexing="ij"))
    found = box_iou(corners[det], corners[truth], crowd[truth])
    assert np.allclose(found, expected.ravel(), rtol=0, atol=1e-12)
    assert np.allclose(box_areas(corners), xywh[:, 2] * xywh[:, 3])
    with pytest.raises(ValueError):
        box_iou(corners[:3], corners[:2])
