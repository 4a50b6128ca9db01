"""A small catalog for the UI tests, with real JPEG images written by pillow.

context    frames (timestamp)         weather       ROIs per frame
ctx-0..3   ctx-k/f0..f4 (0..400)      rain on even  ground_truth: car box, person polygon with a
                                      frames, sun   hole, lane polyline, keypoints;
                                      on odd        predictions: car box (confidence .1 .3 .5 .7 .9
                                                    by frame), a "night" classification
ctx-group  ctx-group/f0..f2 (0..200)  fog           two sources (front 64x48, rear 32x24); a car on
                                                    front, a truck on rear, an RLE mask on front

Frames of ctx-1 have time_of_day "night"; every other frame "day". `many_contexts` adds
single-frame contexts for paging tests. Tests get copies through the root conftest's
`make_catalog("ui")` / `make_catalog("ui-many")` (tests/catalogs.py), built once per session.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, box_ring
from workbench.store.catalog import Catalog

WIDTH, HEIGHT = 64, 48
CONFIDENCES = (0.1, 0.3, 0.5, 0.7, 0.9)
CONTEXTS = [f"ctx-{k}" for k in range(4)]


def write_jpeg(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="JPEG", quality=80)
    return str(path)


def sequence_frame(media: Path, k: int, i: int) -> Frame:
    fid = f"ctx-{k}/f{i}"
    uri = write_jpeg(media / f"ctx-{k}" / f"f{i}.jpg", (WIDTH, HEIGHT), (40 * k, 30 * i, 90))
    rois = [
        Roi(
            f"{fid}/car",
            "box",
            ["car"],
            geometry=[box_ring(4, 4, 20, 10)],
            attributes={"occluded": True},
        ),
        Roi(
            f"{fid}/person",
            "polygon",
            ["person"],
            geometry=[[30, 5, 60, 5, 60, 40, 30, 40], [40, 15, 50, 15, 50, 30, 40, 30]],
        ),
        Roi(f"{fid}/lane", "polyline", ["lane"], geometry=[[0, 47, 32, 30, 63, 47]]),
        Roi(f"{fid}/kp", "point", ["nose"], geometry=[[10, 20, 12, 22]]),
        Roi(
            f"{fid}/pred",
            "box",
            ["car"],
            field="predictions",
            geometry=[box_ring(5, 5, 18, 9)],
            confidence=CONFIDENCES[i],
        ),
        Roi(f"{fid}/scene", "classification", ["night"], field="predictions", confidence=0.8),
    ]
    return Frame(
        id=fid,
        context_id=f"ctx-{k}",
        timestamp=100 * i,
        sources=[Source("image", uri, WIDTH, HEIGHT, "image/jpeg")],
        rois=rois,
        metadata={
            "weather": "rain" if i % 2 == 0 else "sun",
            "time_of_day": "night" if k == 1 else "day",
            "camera": "cam-a",
        },
    )


def group_frame(media: Path, i: int) -> Frame:
    fid = f"ctx-group/f{i}"
    front = write_jpeg(media / "group" / f"front{i}.jpg", (WIDTH, HEIGHT), (200, 200, 30 * i))
    rear = write_jpeg(media / "group" / f"rear{i}.jpg", (32, 24), (30 * i, 200, 200))
    # 64x48 mask, column-major runs: 4 columns of background, then 48 rows set in column 4.
    rle = {"size": [HEIGHT, WIDTH], "counts": [4 * HEIGHT, HEIGHT, (WIDTH - 5) * HEIGHT]}
    return Frame(
        id=fid,
        context_id="ctx-group",
        timestamp=100 * i,
        sources=[
            Source("front", front, WIDTH, HEIGHT, "image/jpeg"),
            Source("rear", rear, 32, 24, "image/jpeg"),
        ],
        rois=[
            Roi(
                f"{fid}/car",
                "box",
                ["car"],
                geometry=[box_ring(2, 2, 10, 10)],
                source_ids=["front"],
            ),
            Roi(
                f"{fid}/truck",
                "box",
                ["truck"],
                geometry=[box_ring(1, 1, 8, 8)],
                source_ids=["rear"],
            ),
            Roi(
                f"{fid}/mask",
                "mask",
                ["road"],
                mask={"rle": rle},
                source_ids=["front"],
                bbox=(4.0, 0.0, 5.0, 48.0),
            ),
        ],
        metadata={"weather": "fog", "time_of_day": "day", "camera": "rig"},
    )


def build_catalog(folder: Path, many_contexts: int = 0) -> Catalog:
    catalog = workbench.open(folder / "ui.duckdb")
    media = folder / "media"
    catalog.add_media_roots([media])  # what an import of the folder would declare
    with CatalogWriter(catalog, progress=False) as writer:
        for k in range(len(CONTEXTS)):
            for i in range(5):
                writer.add(sequence_frame(media, k, i))
        for i in range(3):
            writer.add(group_frame(media, i))
        if many_contexts:
            uri = write_jpeg(media / "many.jpg", (WIDTH, HEIGHT), (10, 10, 10))
            for n in range(many_contexts):
                writer.add(
                    Frame(
                        id=f"many-{n:03d}",
                        context_id=f"many-{n:03d}",
                        timestamp=n,
                        sources=[Source("image", uri, WIDTH, HEIGHT)],
                        metadata={"weather": "snow"},
                    )
                )
    assert writer.report.ok, str(writer.report)
    return catalog
