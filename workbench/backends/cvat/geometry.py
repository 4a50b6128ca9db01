"""Geometry between the catalog and CVAT, and CVAT's track interpolation.

The catalog keeps rings of flat `x, y` pixel coordinates (y down); a box is one ring of four
corners, which may be rotated. CVAT keeps a rectangle as `[xtl, ytl, xbr, ybr]` of the
unrotated box plus `rotation`, degrees clockwise about the box centre: the centre form of
workbench.model.rotated. Polygons, polylines and points are one flat list.

Tracks are keyframes; CVAT draws the frames between two keyframes by interpolation, holds the
last keyframe to the end of the task, and hides the object from an `outside` keyframe on.
`track_frames` does the same so the catalog receives what an annotator sees: rectangles
(and single points) move linearly, rotation by the shorter way round; polygons and polylines
move vertex by vertex when both keyframes have as many vertices, otherwise the earlier
keyframe is held (CVAT resamples such shapes; keyframes themselves are always exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from workbench.model.geometry import Ring, bounds, corner_ring
from workbench.model.records import MIN_POINTS as CATALOG_MIN_POINTS
from workbench.model.rotated import RotatedRect, corners, from_corners, is_axis_aligned

CVAT_TYPE_OF_KIND: dict[str, str] = {
    "box": "rectangle",
    "polygon": "polygon",
    "polyline": "polyline",
    "point": "points",
}
KIND_OF_CVAT_TYPE: dict[str, str] = {v: k for k, v in CVAT_TYPE_OF_KIND.items()}
# The fewest points (x, y pairs) each CVAT shape type has (the catalog's rule for its kind);
# rectangles have exactly two.
MIN_POINTS: dict[str, int] = {
    CVAT_TYPE_OF_KIND[k]: n for k, n in CATALOG_MIN_POINTS.items() if k in CVAT_TYPE_OF_KIND
}
# Digits kept when comparing geometry for "unchanged since upload" (far below a pixel).
_DIGITS = 6


@dataclass(frozen=True)
class CvatGeometry:
    type: str
    points: tuple[float, ...]
    rotation: float = 0.0

    def key(self) -> list[Any]:
        """A JSON-friendly form for comparisons that ignores float noise."""
        return [self.type, [round(p, _DIGITS) for p in self.points], round(self.rotation, _DIGITS)]


def to_cvat(kind: str, geometry: Sequence[Sequence[float]]) -> CvatGeometry:
    """A catalog geometry as a CVAT shape; ValueError says why it cannot be one."""
    shape_type = CVAT_TYPE_OF_KIND.get(kind)
    if shape_type is None:
        raise ValueError(f"CVAT has no shape for kind {kind!r}")
    if len(geometry) != 1:
        raise ValueError(f"a CVAT {shape_type} is one ring; this {kind} has {len(geometry)}")
    ring = tuple(float(v) for v in geometry[0])
    if len(ring) % 2 or len(ring) < 2 * MIN_POINTS[shape_type]:
        raise ValueError(f"a {shape_type} needs at least {MIN_POINTS[shape_type]} points")
    if not all(math.isfinite(v) for v in ring):
        raise ValueError("coordinates must be finite")
    if shape_type != "rectangle":
        return CvatGeometry(shape_type, ring)
    return _rectangle(ring)


def _rectangle(ring: Ring) -> CvatGeometry:
    box = bounds([ring])
    if box is not None and (len(ring) == 4 or is_axis_aligned(ring)):
        return CvatGeometry("rectangle", box)
    if len(ring) != 8:
        raise ValueError(f"a box is two or four corners, got {len(ring) // 2}")
    rect = from_corners(ring)
    half_w, half_h = rect.width / 2, rect.height / 2
    points = (rect.cx - half_w, rect.cy - half_h, rect.cx + half_w, rect.cy + half_h)
    return CvatGeometry("rectangle", points, rect.angle)


def from_cvat(shape: CvatGeometry) -> tuple[tuple[float, ...], ...]:
    """A CVAT shape as catalog rings (a rectangle as four corners clockwise from top-left)."""
    if shape.type != "rectangle":
        return (tuple(shape.points),)
    xtl, ytl, xbr, ybr = shape.points
    if shape.rotation % 360.0 == 0.0:
        return (corner_ring(xtl, ytl, xbr, ybr),)
    centre = RotatedRect((xtl + xbr) / 2, (ytl + ybr) / 2, xbr - xtl, ybr - ytl, shape.rotation)
    return (corners(centre),)


# -- tracks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyframe:
    """One keyframe of a CVAT track, with what it carries besides geometry."""

    frame: int
    geometry: CvatGeometry
    outside: bool = False
    occluded: bool = False
    attributes: tuple[tuple[int, str], ...] = ()  # (spec id, value), mutable attributes


@dataclass(frozen=True)
class TrackFrame:
    """A track on one frame as CVAT shows it; attributes carried forward from keyframes."""

    frame: int
    geometry: CvatGeometry
    keyframe: bool
    occluded: bool
    attributes: dict[int, str]


def track_frames(keyframes: Sequence[Keyframe], end: int) -> list[TrackFrame]:
    """The frames a track is visible on, up to (not including) frame `end` of its task."""
    ordered = sorted(keyframes, key=lambda k: k.frame)
    out: list[TrackFrame] = []
    attributes: dict[int, str] = {}
    for number, key in enumerate(ordered):
        if key.frame >= end:
            break
        attributes = attributes | dict(key.attributes)
        if key.outside:
            continue
        out.append(TrackFrame(key.frame, key.geometry, True, key.occluded, dict(attributes)))
        following = ordered[number + 1] if number + 1 < len(ordered) else None
        stop = min(following.frame if following else end, end)
        for frame in range(key.frame + 1, stop):
            geometry = key.geometry
            if following is not None:
                t = (frame - key.frame) / (following.frame - key.frame)
                geometry = interpolate(key.geometry, following.geometry, t)
            out.append(TrackFrame(frame, geometry, False, key.occluded, dict(attributes)))
    return out


def interpolate(a: CvatGeometry, b: CvatGeometry, t: float) -> CvatGeometry:
    """The shape a fraction `t` of the way from keyframe `a` to keyframe `b`."""
    linear = a.type == b.type and len(a.points) == len(b.points)
    if a.type == "points" and len(a.points) != 2:
        linear = False  # CVAT moves only single points; sets of points are held
    if not linear:
        return a
    points = tuple(p + (q - p) * t for p, q in zip(a.points, b.points, strict=True))
    turn = (b.rotation - a.rotation + 180.0) % 360.0 - 180.0
    rotation = (a.rotation + turn * t) % 360.0
    return replace(a, points=points, rotation=rotation)
