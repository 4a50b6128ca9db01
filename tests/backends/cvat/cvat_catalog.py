"""A small catalog for the CVAT backend tests, with real (tiny) image files.

- img-0 .. img-2: single images (their own contexts) with a `gt` box each (img-2's rotated by
  30 degrees), attributes `occluded`, `color` (select) and `group`; a `weather`
  classification on each; an `outline` polygon (img-0), `kp` keypoints (img-1) and a `lane`
  polyline (img-2);
- seq-0 .. seq-5: a sequence (context `drive`) with a car tracked on seq-0 .. seq-3
  (track index 7, keyframes on seq-0 and seq-3, seq-1 and seq-2 on the straight line between);
- clip-0 .. clip-9: frames 0..9 of a video served over http (context `clip`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.store.catalog import Catalog

VIDEO_URL = "http://media.test/clip.mp4"

SCHEMA: dict[str, Any] = {
    "gt": {
        "type": "detections",
        "classes": ["car", "truck"],
        "attributes": {
            "occluded": {"type": "occluded"},
            "group": {"type": "group_id"},
            "color": {"type": "select", "values": ["red", "blue"], "default": "red"},
        },
    },
    "weather": {"type": "classification", "classes": ["sunny", "rain"]},
}
IMAGES = ["img-0", "img-1", "img-2"]


def rois(catalog: Catalog, field: str) -> dict[tuple[str, str], dict[str, Any]]:
    table = (
        catalog.cursor()
        .sql(
            "SELECT frame_id, id, label, geometry, attributes::VARCHAR AS attributes, confidence, "
            "track_index, keyframe FROM rois WHERE field = ? ORDER BY frame_id, id",
            params=[field],
        )
        .to_arrow_table()
    )
    out = {}
    for row in table.to_pylist():
        row["attributes"] = json.loads(row["attributes"]) if row["attributes"] else {}
        out[(row["frame_id"], row["id"])] = row
    return out


def image(folder: Path, name: str, size: tuple[int, int] = (64, 48)) -> str:
    path = folder / name
    Image.new("RGB", size, (40, 80, 120)).save(path, format="JPEG")
    return str(path)


def rotated_box(cx: float, cy: float, w: float, h: float, degrees: float) -> list[float]:
    theta = math.radians(degrees)
    ring: list[float] = []
    for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        ring += [
            cx + dx * math.cos(theta) - dy * math.sin(theta),
            cy + dx * math.sin(theta) + dy * math.cos(theta),
        ]
    return ring


def _extra(i: int) -> Roi:
    """A polygon, a set of keypoints or a polyline: one of each over the three images."""
    if i == 0:
        return Roi(
            "o0", "polygon", ["car"], field="outline", geometry=[[0, 0, 10, 0, 10, 10, 0, 10]]
        )
    if i == 1:
        return Roi("k1", "point", ["wheel"], field="kp", geometry=[[3, 4, 7, 4]])
    return Roi("l2", "polyline", ["lane"], field="lane", geometry=[[0, 40, 30, 30, 60, 20]])


def build_catalog(path: Path, media: Path) -> Catalog:
    media.mkdir(parents=True, exist_ok=True)
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(3):
            ring = rotated_box(30, 20, 16, 8, 30.0) if i == 2 else box_ring(10 + i, 10, 20, 12)
            rois = [
                Roi(
                    f"b{i}",
                    "box",
                    ["car"],
                    field="gt",
                    geometry=[ring],
                    confidence=0.9 if i == 0 else None,
                    attributes={
                        "occluded": i == 1,
                        "color": "red",
                        "note": "keep me",
                        **({"group": 2} if i == 0 else {}),
                    },
                ),
                Roi(f"w{i}", "classification", ["sunny"], field="weather"),
                _extra(i),
            ]
            writer.add(
                Frame(
                    f"img-{i}",
                    sources=[Source("cam", image(media, f"img-{i}.jpg"), 64, 48)],
                    rois=rois,
                )
            )
        for i in range(6):
            rois = []
            if i < 4:
                rois.append(
                    Roi(
                        f"t{i}",
                        "box",
                        ["car"],
                        field="gt",
                        geometry=[box_ring(10 + 2 * i, 10, 10, 10)],
                        track_index=7,
                        keyframe=i in (0, 3),
                        attributes={"color": "red"},
                    )
                )
            writer.add(
                Frame(
                    f"seq-{i}",
                    sources=[Source("cam", image(media, f"seq-{i}.jpg"), 64, 48)],
                    rois=rois,
                    context_id="drive",
                    timestamp=100 * i,
                )
            )
        for i in range(10):
            writer.add(
                Frame(
                    f"clip-{i}",
                    sources=[Source("cam", VIDEO_URL, 1920, 1080, "video/mp4")],
                    context_id="clip",
                    timestamp=40 * i,
                    frame_index=i,
                )
            )
    assert writer.report.ok, writer.report
    return catalog
