"""The parts of a demo picture that lie on the ground or at infinity: sky, road, markings.

Ground is drawn in flat colours and then hazed row by row (every pixel of a row of ground is
at the same distance from a camera without pitch), which is exact for fog and for the
falling-off of headlights at night, and costs one composite per picture.
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageDraw

from workbench.demo.environment import MATERIALS, Atmosphere
from workbench.demo.geometry import (
    HEIGHT,
    HORIZON,
    WIDTH,
    Camera,
    Point,
    Vec3,
    clip_near,
    clip_segment,
    ground_depth,
    project,
)
from workbench.demo.scenario import World

_DASH, _GAP = 3.0, 6.0
_LINE_HALF_WIDTH = 0.08
LANE_LABEL_RANGE = (2.0, 60.0)  # lane polylines are labelled this far ahead of the ego car


def sky_and_terrain(world: World, camera: Camera, rng: random.Random) -> Image.Image:
    """The picture before anything on the ground: a sky gradient, hills, clouds or stars."""
    atm = world.atmosphere
    top, mid, low = (np.array(c, dtype=np.float32) for c in atm.sky)
    f = np.linspace(0.0, 1.0, int(HORIZON) + 1, dtype=np.float32)[:, None]
    upper = np.where(
        f < 0.55, top + (mid - top) * (f / 0.55), mid + (low - mid) * ((f - 0.55) / 0.45)
    )
    rows = np.empty((HEIGHT, 3), dtype=np.float32)
    rows[: len(upper)] = upper
    rows[len(upper) :] = atm.shade(MATERIALS[world.layout.terrain], 0.0)
    picture = np.broadcast_to(rows[:, None, :], (HEIGHT, WIDTH, 3)).astype(np.uint8)
    image = Image.fromarray(picture, "RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    if atm.weather == "clear" and not atm.night:
        for _ in range(rng.randint(3, 6)):
            x, y = rng.uniform(-60, WIDTH), rng.uniform(10, HORIZON * 0.6)
            w, h = rng.uniform(60, 160), rng.uniform(12, 26)
            draw.ellipse((x, y, x + w, y + h), fill=(255, 255, 255, 70))
            draw.ellipse(
                (x + w * 0.2, y - h * 0.3, x + w * 0.7, y + h * 0.6), fill=(255, 255, 255, 60)
            )
    if atm.night and atm.weather == "clear":
        for _ in range(90):
            x, y = rng.uniform(0, WIDTH), rng.uniform(0, HORIZON * 0.8)
            draw.point((x, y), fill=(220, 220, 235, rng.randint(90, 220)))
    if atm.time_of_day == "dusk" and atm.weather == "clear" and camera.yaw_deg == 0:
        x = rng.uniform(0.2, 0.8) * WIDTH
        for r, a in ((70, 40), (36, 80), (14, 200)):
            draw.ellipse(
                (x - r, HORIZON - 10 - r, x + r, HORIZON - 10 + r), fill=(255, 214, 150, a)
            )
    if world.layout.road_type != "urban":
        hill = atm.shade((70, 96, 70), 1500.0)
        step, y = 16, HORIZON - rng.uniform(6, 16)
        outline: list[Point] = [(0.0, HORIZON)]
        for x in range(0, WIDTH + step, step):
            y = min(HORIZON - 2, max(HORIZON - 34, y + rng.uniform(-4, 4)))
            outline.append((float(x), y))
        outline.append((float(WIDTH), HORIZON))
        draw.polygon(outline, fill=hill)
    return image


def haze_mask(atm: Atmosphere) -> Image.Image:
    """How much haze covers each row of ground (the sky already has its own colours)."""
    alpha = np.zeros(HEIGHT, dtype=np.float32)
    for row in range(int(HORIZON), HEIGHT):
        alpha[row] = atm.haze_alpha(ground_depth(row + 0.5))
    mask = np.broadcast_to((alpha * 255).astype(np.uint8)[:, None], (HEIGHT, WIDTH))
    return Image.fromarray(np.ascontiguousarray(mask), "L")


def _quad(x0: float, x1: float, z0: float, z1: float) -> list[Vec3]:
    return [(x0, 0.0, z0), (x1, 0.0, z0), (x1, 0.0, z1), (x0, 0.0, z1)]


def _spans(world: World, z0: float, z1: float, gap: float = 0.0) -> list[tuple[float, float]]:
    """[z0, z1] with the crossings (and `gap` metres around them) cut out."""
    spans = [(z0, z1)]
    for zi in world.spec.intersections:
        cut0, cut1 = zi - 4.0 - gap, zi + 18.0 + gap
        spans = [
            piece
            for a, b in spans
            for piece in ((a, min(b, cut0)), (max(a, cut1), b))
            if piece[1] - piece[0] > 0.1
        ]
    return spans


def ground_polygons(world: World, ego: float) -> list[tuple[list[Vec3], str]]:
    """Road, pavements, crossings and markings as (world polygon, material), back to front."""
    near, far = ego - 40.0, ego + 400.0
    out = [(_quad(x0, x1, near, far), m) for x0, x1, m in world.layout.surfaces]
    x_left, x_right = world.layout.drivable
    asphalt = "asphalt" if world.layout.road_type != "highway" else "asphalt_light"
    for zi in world.spec.intersections:
        out.append((_quad(-150.0, 150.0, zi, zi + 14.0), asphalt))
        for zc in (zi - 2.0, zi + 16.0):
            x = x_left + 0.3
            while x < x_right - 0.5:
                out.append((_quad(x, x + 0.5, zc - 1.5, zc + 1.5), "marking"))
                x += 1.0
        out.append((_quad(-1.75, x_right, zi - 4.2, zi - 3.8), "marking"))
    for line in world.layout.lines:
        x0, x1 = line.x - _LINE_HALF_WIDTH, line.x + _LINE_HALF_WIDTH
        if line.style == "solid":
            out.extend((_quad(x0, x1, a, b), "marking") for a, b in _spans(world, near, ego + 250))
            continue
        start = math.floor((ego - 20.0) / (_DASH + _GAP)) * (_DASH + _GAP)
        for a, b in _spans(world, start, ego + 160.0):
            z = a
            while z < b:
                out.append((_quad(x0, x1, z, min(z + _DASH, b)), "marking"))
                z += _DASH + _GAP
    return out


def drivable_polygons(world: World, ego: float) -> list[list[Vec3]]:
    x_left, x_right = world.layout.drivable
    polys = [_quad(x_left, x_right, ego - 40.0, ego + 400.0)]
    polys.extend(_quad(-150.0, 150.0, zi, zi + 14.0) for zi in world.spec.intersections)
    return polys


def draw_ground(image: Image.Image, world: World, camera: Camera, ego: float) -> None:
    atm = world.atmosphere
    wet = 0.78 if atm.rain else 1.0
    colors = {
        name: atm.shade(rgb, 0.0, wet if name != "marking" else 1.0)
        for name, rgb in MATERIALS.items()
    }
    draw = ImageDraw.Draw(image)
    for polygon, material in ground_polygons(world, ego):
        points = camera.polygon(polygon, ego)
        if len(points) >= 3:
            draw.polygon(points, fill=colors[material])


def lane_polylines(world: World, camera: Camera, ego: float) -> list[tuple[str, list[Point]]]:
    """(label, 5 image points) of every lane line within the labelled range ahead."""
    out = []
    near, far = LANE_LABEL_RANGE
    for line in world.layout.lines:
        for a, b in _spans(world, ego + near, ego + far):
            ends = clip_near(
                [camera.to_camera((line.x, 0.0, a), ego), camera.to_camera((line.x, 0.0, b), ego)]
            )
            if len(ends) < 2:
                continue
            seg = clip_segment(project(ends[0]), project(ends[1]))
            if seg is None or math.dist(*seg) < 12:
                continue
            (ax, ay), (bx, by) = seg
            points = [(ax + (bx - ax) * k / 4, ay + (by - ay) * k / 4) for k in range(5)]
            out.append(("lane_" + line.style, points))
    return out
