"""Placing, culling and projecting the faces of many box models at once.

A frame shows a few hundred placed models with thousands of faces; looping over them in Python
costs tens of milliseconds, so faces are kept in arrays and only the faces that end up in the
picture are visited one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from workbench.demo.geometry import FOCAL, HEIGHT, HORIZON, MOUNT_HEIGHT, NEAR, WIDTH, Camera, Point
from workbench.demo.models import Model, Quad


@dataclass(frozen=True)
class Batch:
    """The faces of placed models, in world coordinates, one row per face."""

    corners: np.ndarray  # (faces, 4, 3)
    normals: np.ndarray  # (faces, 3)
    part_centres: np.ndarray  # (faces, 3) centre of the part a face belongs to
    owner: np.ndarray  # (faces,) index of the placement the face belongs to
    layer: np.ndarray  # (faces,)
    decal: np.ndarray  # (faces,) bool
    glow: np.ndarray  # (faces,) bool
    quads: tuple[Quad, ...]  # colour and light of each face

    @property
    def size(self) -> int:
        return len(self.quads)


def place(placements: Sequence[tuple[Model, float, float, int]]) -> Batch:
    """Faces of every (model, x, z, heading); a heading of -1 turns a model around."""
    pieces = []
    by_model: dict[int, list[int]] = {}
    for i, (model, *_rest) in enumerate(placements):
        by_model.setdefault(id(model), []).append(i)
    for indices in by_model.values():
        model = placements[indices[0]][0]
        a = model.arrays
        pos = np.array([[placements[i][1], 0.0, placements[i][2]] for i in indices])
        heading = np.array([placements[i][3] for i in indices], dtype=np.float64)
        flip = np.stack([heading, np.ones_like(heading), heading], axis=1)
        faces = len(a.quads)
        pieces.append(
            (
                (a.corners[None] * flip[:, None, None, :] + pos[:, None, None, :]).reshape(
                    -1, 4, 3
                ),
                (a.normals[None] * flip[:, None, :]).reshape(-1, 3),
                (a.part_centres[a.part][None] * flip[:, None, :] + pos[:, None, :]).reshape(-1, 3),
                np.repeat(np.array(indices), faces),
                np.tile(a.part_layers[a.part], len(indices)),
                np.tile(a.decal, len(indices)),
                np.tile(a.glow, len(indices)),
                a.quads * len(indices),
            )
        )
    if not pieces:
        empty = np.zeros((0, 4, 3))
        return Batch(
            empty,
            empty[:, 0],
            empty[:, 0],
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=bool),
            np.zeros(0, dtype=bool),
            (),
        )
    return Batch(
        corners=np.concatenate([p[0] for p in pieces]),
        normals=np.concatenate([p[1] for p in pieces]),
        part_centres=np.concatenate([p[2] for p in pieces]),
        owner=np.concatenate([p[3] for p in pieces]),
        layer=np.concatenate([p[4] for p in pieces]),
        decal=np.concatenate([p[5] for p in pieces]),
        glow=np.concatenate([p[6] for p in pieces]),
        quads=tuple(q for p in pieces for q in p[7]),
    )


def visible_faces(
    batch: Batch,
    camera: Camera,
    ego: float,
    wanted: np.ndarray,
    plain: np.ndarray,
    lights_on: bool,
) -> Iterator[tuple[int, list[Point] | None]]:
    """(face, image points) of the faces that show, in painting order within each owner.

    `wanted[owner]` says which placements to draw at all; `plain[owner]` drops their wheels
    and decals (except lit lights). Points are None for faces that cross the near plane: the
    caller clips those one by one.
    """
    if not batch.size:
        return
    rel = batch.corners - np.array([0.0, MOUNT_HEIGHT, ego])
    keep = wanted[batch.owner] & (np.einsum("ij,ij->i", batch.normals, rel[:, 0, :]) < 0.0)
    simple = plain[batch.owner]
    keep &= ~simple | ((~batch.decal | (batch.glow & lights_on)) & (batch.layer > 0))
    x = rel[..., 0] * camera.cos - rel[..., 2] * camera.sin
    z = rel[..., 0] * camera.sin + rel[..., 2] * camera.cos
    in_front = (z >= NEAR).all(axis=1)
    zs = np.where(z >= NEAR, z, 1.0)
    u = WIDTH / 2 + FOCAL * x / zs
    v = HORIZON - FOCAL * rel[..., 1] / zs
    keep &= ~in_front | (
        (u.max(axis=1) >= 0)
        & (u.min(axis=1) <= WIDTH)
        & (v.max(axis=1) >= 0)
        & (v.min(axis=1) <= HEIGHT)
    )
    keep &= (z >= NEAR).any(axis=1)
    faces = np.flatnonzero(keep)
    if not len(faces):
        return
    c = batch.part_centres[faces] - np.array([0.0, 0.0, ego])
    part_depth = c[:, 0] * camera.sin + c[:, 2] * camera.cos
    order = faces[np.lexsort((faces, -part_depth, batch.layer[faces], batch.owner[faces]))]
    uv = np.stack((u[order], v[order]), axis=2).tolist()
    front = in_front[order].tolist()
    for k, points, whole in zip(order.tolist(), uv, front, strict=True):
        yield k, ([(p[0], p[1]) for p in points] if whole else None)
