"""Rotated rectangles in pixel space (x right, y down), in the forms platforms keep them.

The catalog keeps a box as one ring of four corners, flat `x0, y0, ..., x3, y3`. Annotation
platforms keep a rotated rectangle as a size, an angle and a point the rectangle turns about.
The angle is in degrees, clockwise as drawn (with y down, a positive angle turns x towards
y), in [0, 360):

- **centre rotation** (CVAT): `RotatedRect`, the unrotated box centred on (cx, cy), turned
  about that centre;
- **corner rotation** (Label Studio): `CornerRect`, the unrotated box with its top-left
  corner at (x, y), turned about that corner.

`to_corner` and `to_centre` convert between the two; `from_corners` and `corners` between a
rectangle and its ring. `corners` starts at the corner that was top-left before turning and
goes clockwise as drawn, so a clockwise ring comes back in the order it was given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RotatedRect:
    """A rectangle turned `angle` degrees clockwise about its centre (cx, cy)."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float = 0.0


@dataclass(frozen=True)
class CornerRect:
    """A rectangle turned `angle` degrees clockwise about its first corner (x, y)."""

    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0


def _axes(angle: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """Unit vectors along the width and along the height of a rectangle turned `angle`."""
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    return (cos, sin), (-sin, cos)


def to_corner(rect: RotatedRect) -> CornerRect:
    """The same rectangle, turning about its first corner instead of its centre."""
    (ux, uy), (vx, vy) = _axes(rect.angle)
    half_w, half_h = rect.width / 2, rect.height / 2
    x = rect.cx - half_w * ux - half_h * vx
    y = rect.cy - half_w * uy - half_h * vy
    return CornerRect(x, y, rect.width, rect.height, rect.angle)


def to_centre(rect: CornerRect) -> RotatedRect:
    """The same rectangle, turning about its centre instead of its first corner."""
    (ux, uy), (vx, vy) = _axes(rect.angle)
    half_w, half_h = rect.width / 2, rect.height / 2
    cx = rect.x + half_w * ux + half_h * vx
    cy = rect.y + half_w * uy + half_h * vy
    return RotatedRect(cx, cy, rect.width, rect.height, rect.angle)


def from_corners(ring: Sequence[float]) -> RotatedRect:
    """The rectangle whose four corners are `ring`: centred on their mean, as wide as the
    first edge is long and as high as the second, turned the way the first edge points."""
    if len(ring) != 8:
        raise ValueError(f"a rotated rectangle has 4 corners, got {len(ring) // 2}")
    xs, ys = ring[0::2], ring[1::2]
    width = math.dist(ring[0:2], ring[2:4])
    height = math.dist(ring[2:4], ring[4:6])
    angle = math.degrees(math.atan2(ring[3] - ring[1], ring[2] - ring[0])) % 360.0
    return RotatedRect(sum(xs) / 4, sum(ys) / 4, width, height, angle)


def corners(rect: RotatedRect) -> tuple[float, ...]:
    """The four corners of a rectangle, clockwise as drawn from its turned top-left corner."""
    (ux, uy), (vx, vy) = _axes(rect.angle)
    out: list[float] = []
    for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        along, across = dx * rect.width / 2, dy * rect.height / 2
        out += [rect.cx + along * ux + across * vx, rect.cy + along * uy + across * vy]
    return tuple(out)


def is_axis_aligned(ring: Sequence[float]) -> bool:
    """Whether four corners are an upright box (two distinct x values and two y values)."""
    return len(ring) == 8 and len(set(ring[0::2])) <= 2 and len(set(ring[1::2])) <= 2


def clockwise(ring: Sequence[float]) -> tuple[float, ...]:
    """Four corners in clockwise order as drawn (y down), from the same first corner: a
    counter-clockwise ring is walked the other way round."""
    if len(ring) != 8:
        raise ValueError(f"a rotated rectangle has 4 corners, got {len(ring) // 2}")
    x0, y0, x1, y1, _, _, x3, y3 = ring
    if (x1 - x0) * (y3 - y0) - (y1 - y0) * (x3 - x0) >= 0:
        return tuple(ring)
    return (x0, y0, x3, y3, ring[4], ring[5], x1, y1)
