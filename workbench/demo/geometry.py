"""Pinhole cameras on the demo car, and the clipping the renderer and the labels share.

World coordinates are metres: x to the right of the road, y up, z along the road. Every camera
sits on the ego car at the same height, looks horizontally, and may be turned by a yaw angle
(positive to the right). Image coordinates are pixels with y pointing down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Vec3 = tuple[float, float, float]
Point = tuple[float, float]
Box = tuple[float, float, float, float]

WIDTH = 640
HEIGHT = 360
FOCAL = 460.0  # ~70 degrees of horizontal view at 640 px
HORIZON = 160.0  # the image row of the horizon: cameras have no pitch
MOUNT_HEIGHT = 1.6
NEAR = 0.5  # metres; geometry closer than this is cut off before projection


class Camera:
    """A camera on the ego car; `to_camera` then `project` map world points to pixels."""

    __slots__ = ("cos", "name", "sin", "yaw_deg")

    def __init__(self, name: str, yaw_deg: float = 0.0) -> None:
        self.name = name
        self.yaw_deg = yaw_deg
        self.cos = math.cos(math.radians(yaw_deg))
        self.sin = math.sin(math.radians(yaw_deg))

    def to_camera(self, p: Vec3, ego_z: float) -> Vec3:
        dx, dy, dz = p[0], p[1] - MOUNT_HEIGHT, p[2] - ego_z
        return (dx * self.cos - dz * self.sin, dy, dx * self.sin + dz * self.cos)

    def depth(self, p: Vec3, ego_z: float) -> float:
        return p[0] * self.sin + (p[2] - ego_z) * self.cos

    def polygon(self, points: Sequence[Vec3], ego_z: float) -> list[Point]:
        """Project a planar world polygon, cut at the near plane; [] when nothing is in front."""
        cam = [self.to_camera(p, ego_z) for p in points]
        if all(c[2] >= NEAR for c in cam):
            return [project(c) for c in cam]
        return [project(c) for c in clip_near(cam)]

    def point(self, p: Vec3, ego_z: float) -> Point | None:
        c = self.to_camera(p, ego_z)
        return project(c) if c[2] >= NEAR else None


def project(c: Vec3) -> Point:
    return (WIDTH / 2 + FOCAL * c[0] / c[2], HORIZON - FOCAL * c[1] / c[2])


def ground_depth(row: float) -> float:
    """Distance along the view of the ground seen at an image row below the horizon."""
    return FOCAL * MOUNT_HEIGHT / max(row - HORIZON, 1e-3)


def clip_near(poly: Sequence[Vec3]) -> list[Vec3]:
    """Sutherland-Hodgman against the plane z = NEAR (camera coordinates)."""
    out: list[Vec3] = []
    n = len(poly)
    for i in range(n):
        a, b = poly[i], poly[(i + 1) % n]
        a_in, b_in = a[2] >= NEAR, b[2] >= NEAR
        if a_in:
            out.append(a)
        if a_in != b_in:
            t = (NEAR - a[2]) / (b[2] - a[2])
            out.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), NEAR))
    return out


def clip_to_image(poly: Sequence[Point]) -> list[Point]:
    """Sutherland-Hodgman against the image rectangle, so labels never leave the picture."""
    out = list(poly)
    for axis, limit, keep_below in (
        (0, 0.0, False),
        (0, WIDTH, True),
        (1, 0.0, False),
        (1, HEIGHT, True),
    ):
        if not out:
            break
        src, out = out, []
        for i in range(len(src)):
            a, b = src[i], src[(i + 1) % len(src)]
            a_in = a[axis] <= limit if keep_below else a[axis] >= limit
            b_in = b[axis] <= limit if keep_below else b[axis] >= limit
            if a_in:
                out.append(a)
            if a_in != b_in:
                t = (limit - a[axis]) / (b[axis] - a[axis])
                x = a[0] + t * (b[0] - a[0])
                y = a[1] + t * (b[1] - a[1])
                out.append((limit, y) if axis == 0 else (x, limit))
    return out


def clip_segment(a: Point, b: Point) -> tuple[Point, Point] | None:
    """Liang-Barsky: the part of segment ab inside the image, or None."""
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0]), (dx, WIDTH - a[0]), (-dy, a[1]), (dy, HEIGHT - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return None
    return (a[0] + t0 * dx, a[1] + t0 * dy), (a[0] + t1 * dx, a[1] + t1 * dy)


def bounds(points: Sequence[Point]) -> Box:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def clip_box(box: Box) -> Box | None:
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[2], float(WIDTH)), min(box[3], float(HEIGHT))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def box_area(box: Box) -> float:
    return max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)


def on_screen(points: Sequence[Point], margin: float = 0.0) -> bool:
    if not points:
        return False
    x0, y0, x1, y1 = bounds(points)
    return x1 >= -margin and y1 >= -margin and x0 <= WIDTH + margin and y0 <= HEIGHT + margin
