"""Shapes of the things in the demo scenes.

Vehicles, buildings, poles and traffic lights are boxes ("parts") with flat decals (lights,
windows, plates) on their faces, in local metres: x to the right, y up, z forward. People and
bicycles are flat cut-outs that always face the camera, described in metres around the feet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from workbench.demo.environment import RGB
from workbench.demo.geometry import Vec3

Outline = list[tuple[float, float]]

GLASS: RGB = (46, 56, 68)
TYRE: RGB = (22, 22, 24)
TAIL: RGB = (170, 18, 18)
HEAD: RGB = (240, 238, 222)
PLATE: RGB = (222, 222, 212)
TRIM: RGB = (38, 38, 40)

# Faces seen from above or the side get less light than those facing the sky.
_FACE_LIGHT = {"top": 1.12, "back": 0.96, "front": 0.96, "left": 0.8, "right": 0.8}
_NORMALS: dict[str, Vec3] = {
    "back": (0.0, 0.0, -1.0),
    "front": (0.0, 0.0, 1.0),
    "left": (-1.0, 0.0, 0.0),
    "right": (1.0, 0.0, 0.0),
    "top": (0.0, 1.0, 0.0),
}
_DECAL_OFFSET = 0.02


@dataclass(frozen=True)
class Decal:
    """A flat rectangle on one face: `rect` = (a0, a1, b0, b1) along the face's own axes
    (x and y on back/front, z and y on left/right, x and z on top)."""

    face: str
    rect: tuple[float, float, float, float]
    color: RGB
    glow: bool = False


@dataclass(frozen=True)
class Part:
    lo: Vec3
    hi: Vec3
    color: RGB | None = None  # None: painted in the colour of the vehicle
    layer: int = 1  # parts of lower layers are drawn first (wheels sit inside the body)
    decals: tuple[Decal, ...] = ()


@dataclass(frozen=True)
class Quad:
    corners: tuple[Vec3, ...]
    normal: Vec3
    color: RGB | None
    light: float
    glow: bool
    decal: bool


@dataclass(frozen=True)
class QuadArrays:
    """Every quad of a model in arrays, so placing and projecting it is a few numpy calls."""

    corners: np.ndarray  # (quads, 4, 3)
    normals: np.ndarray  # (quads, 3)
    part: np.ndarray  # (quads,) index of the part each quad belongs to
    decal: np.ndarray  # (quads,) bool
    glow: np.ndarray  # (quads,) bool
    part_centres: np.ndarray  # (parts, 3)
    part_layers: np.ndarray  # (parts,)
    quads: tuple[Quad, ...]


@dataclass(frozen=True)
class Model:
    name: str
    parts: tuple[Part, ...]

    @cached_property
    def arrays(self) -> QuadArrays:
        flat = [(i, q) for i, (_, _, quads) in enumerate(self.quads) for q in quads]
        return QuadArrays(
            corners=np.array([q.corners for _, q in flat], dtype=np.float64),
            normals=np.array([q.normal for _, q in flat], dtype=np.float64),
            part=np.array([i for i, _ in flat], dtype=np.int64),
            decal=np.array([q.decal for _, q in flat], dtype=bool),
            glow=np.array([q.glow for _, q in flat], dtype=bool),
            part_centres=np.array([c for _, c, _ in self.quads], dtype=np.float64),
            part_layers=np.array([layer for layer, _, _ in self.quads], dtype=np.int64),
            quads=tuple(q for _, q in flat),
        )

    @cached_property
    def quads(self) -> tuple[tuple[int, Vec3, tuple[Quad, ...]], ...]:
        """(layer, centre, quads) per part; a face's decals follow the face."""
        out = []
        for part in self.parts:
            quads: list[Quad] = []
            for face in ("back", "front", "left", "right", "top"):
                corners = _face_corners(part.lo, part.hi, face, None, 0.0)
                quads.append(
                    Quad(corners, _NORMALS[face], part.color, _FACE_LIGHT[face], False, False)
                )
                for decal in part.decals:
                    if decal.face == face:
                        corners = _face_corners(part.lo, part.hi, face, decal.rect, _DECAL_OFFSET)
                        quads.append(
                            Quad(
                                corners,
                                _NORMALS[face],
                                decal.color,
                                _FACE_LIGHT[face],
                                decal.glow,
                                True,
                            )
                        )
            centre = tuple((a + b) / 2 for a, b in zip(part.lo, part.hi, strict=True))
            out.append((part.layer, (centre[0], centre[1], centre[2]), tuple(quads)))
        return tuple(out)


def _face_corners(
    lo: Vec3, hi: Vec3, face: str, rect: tuple[float, float, float, float] | None, offset: float
) -> tuple[Vec3, ...]:
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    if face in ("back", "front"):
        z = z0 - offset if face == "back" else z1 + offset
        a0, a1, b0, b1 = rect or (x0, x1, y0, y1)
        return ((a0, b0, z), (a1, b0, z), (a1, b1, z), (a0, b1, z))
    if face in ("left", "right"):
        x = x0 - offset if face == "left" else x1 + offset
        a0, a1, b0, b1 = rect or (z0, z1, y0, y1)
        return ((x, b0, a0), (x, b0, a1), (x, b1, a1), (x, b1, a0))
    y = y1 + offset
    a0, a1, b0, b1 = rect or (x0, x1, z0, z1)
    return ((a0, y, b0), (a1, y, b0), (a1, y, b1), (a0, y, b1))


def _wheel(x: float, z: float, radius: float, width: float) -> Part:
    return Part((x - width / 2, 0.0, z - radius), (x + width / 2, 2 * radius, z + radius), TYRE, 0)


def _both(
    face: str, x0: float, x1: float, y0: float, y1: float, color: RGB, glow: bool
) -> tuple[Decal, ...]:
    """A pair of decals mirrored about the centre line (lights come in pairs)."""
    return (
        Decal(face, (-x1, -x0, y0, y1), color, glow),
        Decal(face, (x0, x1, y0, y1), color, glow),
    )


CAR = Model(
    "car",
    (
        *(_wheel(sx * 0.78, sz * 1.35, 0.32, 0.26) for sx in (-1, 1) for sz in (-1, 1)),
        Part(
            (-0.9, 0.28, -2.2),
            (0.9, 0.95, 2.2),
            decals=(
                Decal("back", (-0.9, 0.9, 0.28, 0.4), TRIM),
                *_both("back", 0.55, 0.86, 0.7, 0.84, TAIL, True),
                Decal("back", (-0.26, 0.26, 0.44, 0.56), PLATE),
                Decal("front", (-0.9, 0.9, 0.28, 0.4), TRIM),
                *_both("front", 0.5, 0.83, 0.66, 0.78, HEAD, True),
                Decal("front", (-0.4, 0.4, 0.5, 0.64), TRIM),
                Decal("left", (-2.2, 2.2, 0.28, 0.36), TRIM),
                Decal("right", (-2.2, 2.2, 0.28, 0.36), TRIM),
            ),
        ),
        Part(
            (-0.78, 0.95, -1.25),
            (0.78, 1.45, 1.0),
            layer=2,
            decals=(
                Decal("back", (-0.68, 0.68, 1.0, 1.4), GLASS),
                Decal("front", (-0.7, 0.7, 1.0, 1.4), GLASS),
                Decal("left", (-1.15, 0.9, 1.0, 1.4), GLASS),
                Decal("right", (-1.15, 0.9, 1.0, 1.4), GLASS),
            ),
        ),
    ),
)

TRUCK = Model(
    "truck",
    (
        *(_wheel(sx * 1.05, z, 0.5, 0.34) for sx in (-1, 1) for z in (-3.8, -2.6, 3.6)),
        Part(
            (-1.1, 0.5, -5.0),
            (1.1, 0.95, 5.0),
            TRIM,
            decals=(
                *_both("back", 0.75, 1.05, 0.62, 0.84, TAIL, True),
                Decal("back", (-0.26, 0.26, 0.56, 0.7), PLATE),
            ),
        ),
        Part(
            (-1.25, 0.95, -5.0),
            (1.25, 3.8, 2.9),
            (212, 212, 206),
            layer=2,
            decals=(Decal("back", (-0.03, 0.03, 1.0, 3.75), (150, 150, 146)),),
        ),
        Part(
            (-1.25, 0.5, 3.05),
            (1.25, 3.0, 5.0),
            layer=2,
            decals=(
                Decal("front", (-1.1, 1.1, 1.9, 2.8), GLASS),
                *_both("front", 0.7, 1.1, 0.7, 0.9, HEAD, True),
                Decal("front", (-0.8, 0.8, 0.9, 1.6), TRIM),
                Decal("left", (3.9, 4.8, 1.9, 2.7), GLASS),
                Decal("right", (3.9, 4.8, 1.9, 2.7), GLASS),
            ),
        ),
    ),
)

BUS = Model(
    "bus",
    (
        *(_wheel(sx * 1.05, z, 0.5, 0.34) for sx in (-1, 1) for z in (-3.6, 3.9)),
        Part(
            (-1.275, 0.3, -6.0),
            (1.275, 3.2, 6.0),
            decals=(
                Decal("left", (-5.6, 5.6, 1.5, 2.7), GLASS),
                Decal("right", (-5.6, 5.6, 1.5, 2.7), GLASS),
                Decal("back", (-1.0, 1.0, 2.0, 2.9), GLASS),
                *_both("back", 0.85, 1.2, 0.6, 1.0, TAIL, True),
                Decal("back", (-0.26, 0.26, 0.5, 0.64), PLATE),
                Decal("front", (-1.15, 1.15, 1.3, 2.7), GLASS),
                Decal("front", (-0.9, 0.9, 2.78, 3.06), (240, 170, 40), True),
                *_both("front", 0.75, 1.15, 0.55, 0.75, HEAD, True),
            ),
        ),
    ),
)

VEHICLES: dict[str, Model] = {"car": CAR, "truck": TRUCK, "bus": BUS}
VEHICLE_SIZE: dict[str, tuple[float, float]] = {
    "car": (1.8, 4.4),
    "truck": (2.5, 10.0),
    "bus": (2.55, 12.0),
}


def building(
    x0: float, x1: float, z0: float, z1: float, height: float, color: RGB, road_face: str
) -> Model:
    """A block with a shop window band and one strip of windows per floor facing the road."""
    floors = max(int(height // 3.2) - 1, 1)
    decals: list[Decal] = []
    for face in (road_face, "back"):
        a0, a1 = (z0, z1) if face != "back" else (x0, x1)
        decals.append(Decal(face, (a0 + 0.6, a1 - 0.6, 0.5, 2.8), GLASS))
        for floor in range(1, floors + 1):
            y = floor * 3.2
            decals.append(Decal(face, (a0 + 0.8, a1 - 0.8, y + 0.9, y + 2.2), GLASS))
    return Model("building", (Part((x0, 0.0, z0), (x1, height, z1), color, 1, tuple(decals)),))


def house(
    x0: float, x1: float, z0: float, z1: float, height: float, color: RGB, road_face: str
) -> Model:
    """A small house: two rows of windows and a door on the side facing the road."""
    decals: list[Decal] = []
    length = z1 - z0
    for row, y in enumerate((0.9, 3.6)):
        for k in range(3):
            a = z0 + length * (k + 0.5) / 3
            if row == 0 and k == 1:
                decals.append(Decal(road_face, (a - 0.5, a + 0.5, 0.0, 2.2), (92, 62, 44)))
            else:
                decals.append(Decal(road_face, (a - 0.6, a + 0.6, y, y + 1.3), GLASS))
    roof = Part((x0 - 0.3, height, z0 - 0.3), (x1 + 0.3, height + 0.5, z1 + 0.3), (110, 60, 50), 2)
    return Model("house", (Part((x0, 0.0, z0), (x1, height, z1), color, 1, tuple(decals)), roof))


def lamp_post(x: float, toward_road: float) -> Model:
    """A street lamp: a pole and a head hanging over the road (`toward_road` is -1 or +1)."""
    head_x = x + 1.3 * toward_road
    lo, hi = min(x, head_x), max(x, head_x)
    return Model(
        "lamp",
        (
            Part((x - 0.09, 0.0, -0.09), (x + 0.09, 7.0, 0.09), (70, 72, 76)),
            Part((lo, 6.85, -0.06), (hi, 7.0, 0.06), (70, 72, 76), 2),
            Part(
                (head_x - 0.3, 6.7, -0.16),
                (head_x + 0.3, 6.85, 0.16),
                (60, 60, 64),
                2,
                (Decal("back", (head_x - 0.25, head_x + 0.25, 6.7, 6.76), (255, 236, 190), True),),
            ),
        ),
    )


def traffic_light_pole(pole_x: float, housing_x: float, mount: float) -> Model:
    """A pole with an arm holding a housing over the road, facing oncoming traffic (-z)."""
    lo, hi = min(pole_x, housing_x), max(pole_x, housing_x)
    return Model(
        "traffic_light",
        (
            Part((pole_x - 0.1, 0.0, -0.1), (pole_x + 0.1, mount + 1.1, 0.1), (64, 66, 70)),
            Part((lo, mount + 0.95, -0.06), (hi, mount + 1.1, 0.06), (64, 66, 70), 2),
            Part(
                (housing_x - 0.18, mount - 0.05, -0.15),
                (housing_x + 0.18, mount + 0.95, 0.15),
                (28, 30, 30),
                3,
            ),
        ),
    )


LAMP_OFFSETS: dict[str, float] = {"red": 0.75, "yellow": 0.45, "green": 0.15}
LAMP_COLORS: dict[str, RGB] = {
    "red": (255, 40, 30),
    "yellow": (255, 190, 20),
    "green": (40, 240, 110),
}


def pedestrian_outline(phase: float, stride: float, shoulders: float) -> tuple[Outline, Outline]:
    """(whole silhouette, torso with arms) of a walking person of height 1, feet at y = 0.

    `phase` moves the legs and arms; `stride` is how far they swing sideways in the picture
    (large seen from the side, small seen from the front); `shoulders` scales the width.
    """
    legs = stride * math.sin(phase)
    arms = -0.8 * stride * math.sin(phase)
    w = shoulders
    torso = [
        (0.03, 0.865),
        (0.115 * w, 0.815),
        (0.13 * w + arms * 0.5, 0.64),
        (0.12 * w + arms, 0.47),
        (0.085 * w + arms, 0.47),
        (0.088 * w, 0.62),
        (0.085 * w, 0.5),
        (-0.085 * w, 0.5),
        (-0.088 * w, 0.62),
        (-0.085 * w - arms, 0.47),
        (-0.12 * w - arms, 0.47),
        (-0.13 * w - arms * 0.5, 0.64),
        (-0.115 * w, 0.815),
        (-0.03, 0.865),
    ]
    lower = [
        (0.085 * w, 0.5),
        (0.07 * w + legs, 0.03),
        (0.085 * w + legs + 0.02, 0.0),
        (0.015 + legs, 0.0),
        (0.0, 0.44),
        (-0.015 - legs, 0.0),
        (-0.085 * w - legs - 0.02, 0.0),
        (-0.07 * w - legs, 0.03),
        (-0.085 * w, 0.5),
    ]
    head = [
        (0.065 * math.cos(math.radians(a)), 0.925 + 0.065 * math.sin(math.radians(a)))
        for a in (240, 190, 140, 90, 40, -10, -60)
    ]
    # Outline clockwise: right arm and side, legs, left side and arm, head.
    outline = torso[:7] + lower[1:-1] + torso[7:] + head
    return outline, torso


def cyclist_parts(phase: float) -> dict[str, Outline]:
    """A rider on a bicycle seen from behind or the front, height about 1.75 m, in metres."""
    left = 0.08 * math.sin(phase)
    parts = {
        "wheel": [(-0.03, 0.0), (0.03, 0.0), (0.03, 0.68), (-0.03, 0.68)],
        "legs": [
            (-0.15, 0.95),
            (-0.11, 0.35 + left),
            (-0.05, 0.35 + left),
            (-0.02, 0.8),
            (0.02, 0.8),
            (0.05, 0.35 - left),
            (0.11, 0.35 - left),
            (0.15, 0.95),
        ],
        "torso": [(-0.19, 0.92), (0.19, 0.92), (0.2, 1.45), (-0.2, 1.45)],
        "arms": [
            (-0.2, 1.42),
            (-0.28, 1.06),
            (-0.22, 1.04),
            (-0.14, 1.3),
            (0.14, 1.3),
            (0.22, 1.04),
            (0.28, 1.06),
            (0.2, 1.42),
        ],
        "bars": [(-0.3, 1.02), (0.3, 1.02), (0.3, 1.06), (-0.3, 1.06)],
    }
    return parts
