"""A small catalog with real images for the Label Studio tests.

- img-0 .. img-3: single 200x100 images (each its own context) with a `ground_truth` car box
  (attributes occluded=False, color=red) and a `scene` classification "day"; img-0 has a
  `quality` scalar in its metadata, img-1 a `area` polygon and `kp` keypoints (two points);
  img-3's source has no size in the catalog (it is read from the file);
- seq-0 .. seq-2: a sequence (context `drive-1`, written newest first, timestamps 0..200)
  with one tracked car (track_index 1, a keyframe on seq-0);
- rig-0: two cameras (front, rear), a box on each;
- out-0: an image outside the server's document root (it has to be uploaded).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.store.catalog import Catalog

WIDTH, HEIGHT = 200, 100


def image(folder: Path, name: str, color: tuple[int, int, int] = (40, 90, 140)) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.new("RGB", (WIDTH, HEIGHT), color).save(path)
    return str(path)


def car(roi_id: str, x: float, **more: object) -> Roi:
    return Roi(roi_id, "box", ["car"], geometry=[box_ring(x, 10, 40, 20)], **more)  # type: ignore[arg-type]


def build_catalog(path: Path, media: Path, outside: Path) -> Catalog:
    catalog = workbench.open(path)
    with CatalogWriter(catalog, progress=False) as writer:
        for i in range(4):
            rois = [
                car(f"b{i}", 10 + i, attributes={"occluded": False, "color": "red"}),
                Roi(f"c{i}", "classification", ["day"], field="scene"),
            ]
            if i == 1:
                rois += [
                    Roi(
                        "p1", "polygon", ["road"], field="area", geometry=[[0, 60, 100, 60, 50, 90]]
                    ),
                    Roi("k1", "point", ["nose"], field="kp", geometry=[[20, 20, 30, 25]]),
                ]
            size = (None, None) if i == 3 else (WIDTH, HEIGHT)
            writer.add(
                Frame(
                    f"img-{i}",
                    sources=[Source("image", image(media, f"img-{i}.png"), *size)],
                    rois=rois,
                    metadata={"quality": 3} if i == 0 else {},
                )
            )
        for i in reversed(range(3)):
            track = car(f"t{i}", 20 * i, track_index=1, keyframe=i == 0)
            writer.add(
                Frame(
                    f"seq-{i}",
                    sources=[Source("front", image(media, f"seq-{i}.png"), WIDTH, HEIGHT)],
                    rois=[track],
                    context_id="drive-1",
                    timestamp=100 * i,
                )
            )
        writer.add(
            Frame(
                "rig-0",
                sources=[
                    Source("front", image(media, "rig-0-front.png"), WIDTH, HEIGHT),
                    Source("rear", image(media, "rig-0-rear.png", (200, 0, 0)), WIDTH, HEIGHT),
                ],
                rois=[car("rf", 5, source_ids=["front"]), car("rr", 50, source_ids=["rear"])],
                context_id="rig-1",
            )
        )
        writer.add(
            Frame(
                "out-0",
                sources=[Source("image", image(outside, "out-0.png", (0, 120, 0)), WIDTH, HEIGHT)],
                rois=[car("o0", 30)],
            )
        )
    assert writer.report.ok, writer.report
    return catalog
