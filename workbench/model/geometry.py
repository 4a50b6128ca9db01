"""Geometry in source pixels (x right, y down): rings, boxes, polygons, and box IoU.

A ring is a flat sequence `x0, y0, x1, y1, ...`; an ROI or a shape holds a list of rings. A
box is one ring of four corners, clockwise as drawn from the top-left (`box_ring`,
`corner_ring`); a polygon may have several rings (parts, or holes inside a part); a polyline's
rings are open paths; a set of keypoints is one ring of points. Rotated boxes are in
workbench.model.rotated, pixel regions (masks, rasterised polygons) in workbench.model.regions.

Box IoU works on whole arrays: rows `(x_min, y_min, x_max, y_max)`. It follows pycocotools'
`bbIou` operation for operation (`max(x_min) .. min(x_max)` overlaps, a box of no width or
height overlaps nothing), so results agree with COCOeval to the last bit when the corners are
the same numbers. The crowd rule is COCO's: against a crowd region the union is the
detection's own area (the share of the detection lying inside the crowd).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Ring = Sequence[float]
# (x_min, y_min, x_max, y_max)
Box = tuple[float, float, float, float]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# Vertices closer than this (pixels) are the same vertex.
TOLERANCE = 1e-6


# -- rings ----------------------------------------------------------------------------------


def box_ring(x: float, y: float, w: float, h: float) -> list[float]:
    """The four corners of an upright box from its top-left corner and size, clockwise."""
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def corner_ring(x0: float, y0: float, x1: float, y1: float) -> tuple[float, ...]:
    """The four corners of an upright box from two opposite corners, clockwise from (x0, y0)
    when it is the top-left one."""
    return (x0, y0, x1, y0, x1, y1, x0, y1)


def polygon_ring(
    xs: Sequence[float], ys: Sequence[float], tolerance: float = TOLERANCE
) -> tuple[float, ...]:
    """A ring from vertex lists, without the repeated vertices a drawing tool leaves (one
    after another, or the first again at the end)."""
    out: list[float] = []
    for x, y in zip(xs, ys, strict=False):
        if (
            out
            and math.isclose(out[-2], x, abs_tol=tolerance)
            and math.isclose(out[-1], y, abs_tol=tolerance)
        ):
            continue
        out.extend((float(x), float(y)))
    if (
        len(out) >= 4
        and math.isclose(out[0], out[-2], abs_tol=tolerance)
        and math.isclose(out[1], out[-1], abs_tol=tolerance)
    ):
        out = out[:-2]
    return tuple(out)


def split_ring(ring: Ring) -> tuple[list[float], list[float]]:
    """The x and the y coordinates of a ring, as two lists of floats."""
    return [float(v) for v in ring[0::2]], [float(v) for v in ring[1::2]]


def bounds(rings: Sequence[Ring]) -> Box | None:
    """(x_min, y_min, x_max, y_max) over every point of `rings`; None when there is none."""
    xs = [v for ring in rings for v in ring[0::2]]
    ys = [v for ring in rings for v in ring[1::2]]
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def is_box_ring(ring: Ring) -> bool:
    """Four corners of a non-empty upright box, going round it (not a bow tie)."""
    if len(ring) != 8:
        return False
    points = list(zip(ring[0::2], ring[1::2], strict=True))
    if len({x for x, _ in points}) != 2 or len({y for _, y in points}) != 2:
        return False
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
        if (x0 == x1) == (y0 == y1):  # a diagonal edge or a repeated corner
            return False
    return True


# -- polygons -------------------------------------------------------------------------------


def polygon_area(rings: Sequence[Ring]) -> float:
    """Sum of the rings' areas (shoelace); COCO treats the rings of one object as its parts."""
    total = 0.0
    for ring in rings:
        xs, ys = ring[0::2], ring[1::2]
        n = len(xs)
        total += abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2
    return total


def point_in_ring(x: float, y: float, xs: Sequence[float], ys: Sequence[float]) -> bool:
    """Even-odd rule: does (x, y) lie inside the closed ring?"""
    inside = False
    j = len(xs) - 1
    for i in range(len(xs)):
        if (ys[i] > y) != (ys[j] > y):
            cross = xs[i] + (y - ys[i]) * (xs[j] - xs[i]) / (ys[j] - ys[i])
            if x < cross:
                inside = not inside
        j = i
    return inside


def polygon_parts(
    rings: Sequence[Ring],
) -> tuple[list[list[list[float]]], list[list[list[float]]]]:
    """Rings of one ROI grouped into parts, each `[exterior, hole, ...]`, as x and y lists.

    The catalog does not say whether a second ring is another part or a hole; a ring whose
    first vertex lies inside an earlier exterior ring is taken to be a hole of it.
    """
    xs_parts: list[list[list[float]]] = []
    ys_parts: list[list[list[float]]] = []
    for ring in rings:
        xs, ys = split_ring(ring)
        if not xs:
            continue
        for pxs, pys in zip(xs_parts, ys_parts, strict=True):
            if point_in_ring(xs[0], ys[0], pxs[0], pys[0]):
                pxs.append(xs)
                pys.append(ys)
                break
        else:
            xs_parts.append([xs])
            ys_parts.append([ys])
    return xs_parts, ys_parts


# -- box IoU, many pairs at once ------------------------------------------------------------


def box_areas(boxes: npt.ArrayLike) -> Floats:
    """Width times height of each `(x_min, y_min, x_max, y_max)` row."""
    b = _boxes(boxes)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(
    detections: npt.ArrayLike, truths: npt.ArrayLike, crowd: npt.ArrayLike | None = None
) -> Floats:
    """IoU of `detections[i]` with `truths[i]` for every row i (pairs, not a matrix).

    `crowd[i]` marks a truth that is a crowd region: the union is then the detection's area.
    Pairs that do not overlap (or touch only along an edge) get 0.
    """
    d, g = _boxes(detections), _boxes(truths)
    if d.shape != g.shape:
        raise ValueError(f"detections {d.shape} and truths {g.shape} must pair up row by row")
    width = np.minimum(d[:, 2], g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    height = np.minimum(d[:, 3], g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    overlaps = (width > 0) & (height > 0)
    inter = np.where(overlaps, width * height, 0.0)
    det_area = (d[:, 2] - d[:, 0]) * (d[:, 3] - d[:, 1])
    union = det_area + (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) - inter
    if crowd is not None:
        union = np.where(np.asarray(crowd, dtype=bool), det_area, union)
    out = np.zeros(len(d), dtype=np.float64)
    np.divide(inter, union, out=out, where=overlaps & (union > 0))
    return out


def _boxes(boxes: npt.ArrayLike) -> Floats:
    array = np.asarray(boxes, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must be an (n, 4) array of corners, got shape {array.shape}")
    return array
