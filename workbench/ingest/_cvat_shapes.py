"""CVAT XML 1.1's masks and rotated boxes.

A `<mask>` holds a run-length encoding of the pixels of its box (`left`, `top`, `width`,
`height`), row by row, runs alternating from a run of background (CVAT's and datumaro's
form); the catalog keeps COCO's RLE of the whole image (column by column). A `<box>` with a
`rotation` (degrees, clockwise about its centre, as CVAT and datumaro have it) is a polygon of
its four corners here: the catalog's boxes are upright.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from workbench.errors import RecordError
from workbench.model import rle
from workbench.model.limits import MAX_IMAGE_PIXELS

# Why a video file leaves masks out (counted): datumaro, CVAT's format library, reads a
# `<mask>` in a `<track>` with its `<image>`'s size, which a video file has not (it fails on
# the whole file), and CVAT itself keeps a track of masks as its first mask only.
MASKS_IN_TRACKS = (
    "mask ROIs (CVAT for video holds no masks: datumaro cannot read a <mask> in a <track>, "
    "and CVAT keeps a track of masks as its first mask only)"
)


def mask_from_cvat(
    attrib: Mapping[str, str], size: tuple[int, int] | None, where: str
) -> dict[str, Any]:
    """COCO's `{"size": [h, w], "counts": str}` of a `<mask>` on an image of `size` (w, h)."""
    if size is None:
        raise RecordError(where, "a mask needs its image's width and height")
    left, top, width, height = (_whole(attrib.get(k), k, where) for k in _BOX)
    if width < 1 or height < 1:
        raise RecordError(
            where, f"a mask's width and height must be positive, got {width}x{height}"
        )
    image_width, image_height = size
    if (
        left + width > image_width
        or top + height > image_height
        or image_width * image_height > MAX_IMAGE_PIXELS
    ):
        raise RecordError(
            where, f"the mask's box ({left}, {top}, {width}x{height}) is not inside the image"
        )
    runs = _runs(attrib.get("rle"), where)
    if sum(runs) != width * height:
        raise RecordError(where, f"rle covers {sum(runs)} pixels, the mask's box {width * height}")
    values = np.arange(len(runs), dtype=np.uint8) % 2
    whole = np.zeros((image_height, image_width), dtype=np.uint8)
    whole[top : top + height, left : left + width] = np.repeat(values, runs).reshape(height, width)
    return {"size": [image_height, image_width], "counts": rle.to_string(rle.encode(whole))}


def mask_to_cvat(mask: Mapping[str, Any]) -> dict[str, str] | None:
    """The `<mask>` attributes of a COCO RLE (its pixels' box only); None when it is empty."""
    pixels = rle.decode(mask["counts"], mask["size"])
    rows, columns = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    if not len(rows):
        return None
    top, left = int(rows[0]), int(columns[0])
    patch = pixels[top : rows[-1] + 1, left : columns[-1] + 1].ravel()
    changes = np.flatnonzero(np.diff(patch)) + 1
    bounds = np.concatenate(([0], changes, [patch.size]))
    runs = np.diff(bounds).tolist()
    if patch[0]:  # runs start with background
        runs.insert(0, 0)
    height, width = int(rows[-1]) + 1 - top, int(columns[-1]) + 1 - left
    return {"rle": ", ".join(map(str, runs)), "left": str(left), "top": str(top),
            "width": str(width), "height": str(height)}  # fmt: skip


def rotated_corners(x0: float, y0: float, x1: float, y1: float, degrees: float) -> list[float]:
    """The ring of a box turned `degrees` clockwise (y pointing down) about its centre."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    turn = math.radians(degrees)
    cos, sin = math.cos(turn), math.sin(turn)
    ring = []
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        dx, dy = x - cx, y - cy
        ring += [cx + dx * cos - dy * sin, cy + dx * sin + dy * cos]
    return ring


_BOX = ("left", "top", "width", "height")


def _whole(text: str | None, name: str, where: str) -> int:
    try:
        value = int(text or "")
    except ValueError:
        raise RecordError(where, f"{name} must be an integer, got {text!r}") from None
    if value < 0:
        raise RecordError(where, f"{name} must not be negative, got {value}")
    return value


def _runs(text: str | None, where: str) -> list[int]:
    try:
        runs = [int(part) for part in (text or "").split(",")]
    except ValueError:
        raise RecordError(where, "rle must be whole numbers separated by commas") from None
    if any(run < 0 for run in runs):
        raise RecordError(where, "rle has a negative run")
    return runs
