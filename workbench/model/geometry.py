"""Boxes: areas and intersection over union, for many pairs at once.

Boxes are rows `(x_min, y_min, x_max, y_max)` in pixels, y down. IoU follows pycocotools'
`bbIou` operation for operation (`max(x_min) .. min(x_max)` overlaps, a box of no width or
height overlaps nothing), so results agree with COCOeval to the last bit when the corners are
the same numbers. The crowd rule is COCO's: against a crowd region the union is the
detection's own area (the share of the detection lying inside the crowd).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


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
