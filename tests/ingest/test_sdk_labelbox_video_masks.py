"""Labelbox video masks (the SDK's NDVideoMasks, written by its own serializer): each
instance of a line is a mask ROI of every frame named, `{"uri": <the frame's picture>,
"value": <the instance's colour>}`, on a track of its own; the viewer's reading of such a mask
is the instance's pixels. A picture not held as a local file under the import's media roots
(a remote URI, bytes, a path outside the roots) costs its line, named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, Frame, Source, labelbox
from workbench.ui.masks import mask_from_file

lb = pytest.importorskip("labelbox.types")
serialization = pytest.importorskip("labelbox.data.serialization")
objects = pytest.importorskip("labelbox.data.serialization.ndjson.objects")

VIDEO = "clip.mp4"
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _picture(path: Path, shift: int) -> Path:
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[1:4, 2 + shift : 6 + shift] = RED
    pixels[6:9, 10:12] = BLUE
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _masks(uris: dict[int, str | bytes]) -> object:
    frames = [
        lb.MaskFrame(index=n, im_bytes=u) if isinstance(u, bytes) else
        lb.MaskFrame(index=n, instance_uri=u) for n, u in uris.items()
    ]  # fmt: skip
    instances = [lb.MaskInstance(color_rgb=RED, name="road"),
                 lb.MaskInstance(color_rgb=BLUE, name="car")]  # fmt: skip
    return lb.VideoMaskAnnotation(frames=frames, instances=instances)


def _lines(folder: Path) -> list[dict]:
    first, third = _picture(folder / "m" / "1.png", 0), _picture(folder / "m" / "3.png", 4)
    elsewhere = _picture(folder.parent / "elsewhere.png", 0)
    box = lb.Rectangle(start=lb.Point(x=1, y=2), end=lb.Point(x=6, y=6))
    tracked = [lb.VideoObjectAnnotation(name="bus", keyframe=True, frame=n, segment_index=0,
                                        value=box) for n in (1, 2)]  # fmt: skip
    annotations = [
        _masks({1: f"file://localhost{first}", 3: f"file://localhost{third}"}),
        _masks({1: "https://storage.example.com/m1.png"}),
        _masks({2: b"\x89PNG"}),
        _masks({2: f"file://localhost{elsewhere}"}),
        *tracked,
    ]
    label = lb.Label(data={"global_key": VIDEO}, annotations=annotations)
    return list(serialization.NDJsonConverter.serialize([label]))


@pytest.fixture
def catalog(tmp_path: Path):
    with workbench.open(tmp_path / "c.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            for n in range(3):
                writer.add(Frame(f"f{n + 1}", context_id=VIDEO, frame_index=n,
                                 sources=[Source("image", f"/v/{n}.jpg", 20, 10)]))  # fmt: skip
        yield cat


def test_video_masks_are_mask_rois_of_their_pictures(catalog, tmp_path):
    folder = tmp_path / "in"
    lines = _lines(folder)
    for line in lines:
        if "masks" in line:
            objects.NDVideoMasks.model_validate(line)  # the SDK's own type reads each line
    path = folder / "sdk.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = labelbox.import_files(catalog, [path], progress=False)
    elsewhere = tmp_path / "elsewhere.png"
    assert [(e.where, e.problem) for e in report.errors] == [
        (f"{path}:2", "mask picture 'https://storage.example.com/m1.png' is not a local file "
                      "(nothing is fetched)"),
        (f"{path}:3", "a mask picture given as bytes (imBytes) is not imported: the catalog "
                      "keeps a mask picture as a file"),
        (f"{path}:4", f"mask picture 'file://localhost{elsewhere}' is outside the media roots "
                      "(pass media_roots=...)"),
    ]  # fmt: skip
    rows = catalog.sql(
        "SELECT frame_id, id, kind, label, mask, track_index, attributes->>'$.uuid' FROM rois "
        "WHERE kind = 'mask' ORDER BY frame_id, id"
    ).fetchall()
    uuid = lines[0]["uuid"]
    first, third = str(folder / "m" / "1.png"), str(folder / "m" / "3.png")
    assert [(f, i, k, label, json.loads(m), t, u) for f, i, k, label, m, t, u in rows] == [
        ("f1", f"{uuid}:1", "mask", "road", {"uri": first, "value": list(RED)}, 0, uuid),
        ("f1", f"{uuid}:2", "mask", "car", {"uri": first, "value": list(BLUE)}, 1, uuid),
        ("f3", f"{uuid}:1", "mask", "road", {"uri": third, "value": list(RED)}, 0, uuid),
        ("f3", f"{uuid}:2", "mask", "car", {"uri": third, "value": list(BLUE)}, 1, uuid),
    ]
    # the other lines' objects are imported, on a track after the masks'
    assert catalog.sql(
        "SELECT frame_id, label, track_index FROM rois WHERE kind = 'box' ORDER BY 1"
    ).fetchall() == [("f1", "bus", 2), ("f2", "bus", 2)]
    # what the viewer paints of a mask: the instance's pixels of its frame's picture
    road = mask_from_file(Path(third), list(RED))
    assert road.sum() == 12 and road[1:4, 6:10].all()
    assert mask_from_file(Path(third), list(BLUE)).sum() == 6
