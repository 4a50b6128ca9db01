"""Labelbox export of RLE masks (what COCO, CVAT and Label Studio's brush imports store): each
becomes an instance of a video masks line whose pictures are written beside the file, read by
Labelbox's SDK, and an import of the file gives back masks whose pixels are the RLE's. The
pictures are named by local URIs, or under the base URL `masks_url` gives."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.errors import IngestError
from workbench.ingest import CatalogWriter, Frame, Roi, Source, coco, labelbox
from workbench.media.images import local_path
from workbench.model import rle

objects = pytest.importorskip("labelbox.data.serialization.ndjson.objects")

VIDEO = "clip.mp4"
H, W = 10, 20


def _rle(pixels: np.ndarray) -> dict:
    return {"size": [H, W], "counts": rle.to_string(rle.encode(pixels))}


def _box(top: int, left: int, height: int, width: int) -> np.ndarray:
    pixels = np.zeros((H, W), dtype=np.uint8)
    pixels[top : top + height, left : left + width] = 1
    return pixels


def _mask(roi: str, label: str, pixels: np.ndarray, track=None, uuid=None, **extra) -> Roi:
    return Roi(roi, "mask", [label], "predictions", mask={"rle": _rle(pixels)},
               track_index=track, attributes={"uuid": uuid} if uuid else {}, **extra)  # fmt: skip


def _frames(writer: CatalogWriter, count: int, rois=None) -> None:
    for n in range(count):
        writer.add(Frame(f"{VIDEO}-{n + 1}", context_id=VIDEO, frame_index=n,
                         sources=[Source("image", f"/v/{n}.jpg", W, H)],
                         rois=(rois or {}).get(n, [])))  # fmt: skip


def _pixels(catalog, kind_filter: str) -> Counter:
    """Each mask ROI of the field as (frame, label, its pixels' bytes), counted."""
    rows = catalog.sql(
        f"SELECT frame_id, label, mask FROM rois WHERE kind = 'mask' AND {kind_filter}"
    ).fetchall()
    found: Counter = Counter()
    for frame, label, text in rows:
        spec = json.loads(text)
        if "rle" in spec:
            pixels = rle.decode(spec["rle"]["counts"], spec["rle"]["size"]).astype(bool)
        else:
            picture = np.asarray(Image.open(local_path(spec["uri"])).convert("RGB"))
            pixels = (picture == np.asarray(spec["value"], dtype=np.uint8)).all(axis=2)
        found[frame, label, pixels.tobytes()] += 1
    return found


def test_rle_masks_written_as_pictures_the_sdk_reads_and_import_again(tmp_path):
    """A track of RLE masks, two instances of one uuid that share a line (a colour each), an
    instance of that uuid overlapping them (a line of its own), a mask alone, and a mask whose
    RLE cannot be read (counted as skipped): the SDK reads every line, each picture holds the
    instances' pixels in their colours, and an import gives back every mask's pixels."""
    road, car, lane = _box(0, 0, 3, 20), _box(5, 2, 4, 5), _box(2, 0, 2, 20)
    bad = Roi("bad", "mask", ["road"], "predictions",
              mask={"rle": {"size": [H, W], "counts": [5]}})  # fmt: skip
    rois = {
        0: [_mask("r", "road", road, 0, "u"), _mask("c", "car", car, 1, "u"),
            _mask("l", "lane", lane, 2, "u"), _mask("t", "truck", _box(8, 10, 2, 3), 3), bad],
        1: [_mask("r", "road", _box(1, 0, 3, 20), 0, "u"), _mask("c", "car", _box(5, 4, 4, 5), 1, "u"),
            _mask("l", "lane", lane, 2, "u"), _mask("t", "truck", _box(7, 10, 2, 3), 3)],
        2: [_mask("s", "sign", _box(0, 15, 2, 2), confidence=0.5)],
    }  # fmt: skip
    with workbench.open(tmp_path / "a.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            _frames(writer, 3, rois)
        before = _pixels(cat, "id <> 'bad'")
        out = tmp_path / "out" / "predictions.ndjson"
        out.parent.mkdir()
        report = labelbox.export_files(cat.view(), out, progress=False)
    assert report.skipped == ["1 mask ROIs whose RLE cannot be read"]
    assert report.rois == 9 and report.frames == 3
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    common = [objects.NDVideoMasks.model_validate(line).to_common() for line in lines]
    assert [[(i.name, [f.index for f in c.frames]) for i in c.instances] for c in common] == [
        [("road", [1, 2]), ("car", [1, 2])], [("lane", [1, 2])], [("truck", [1, 2])],
        [("sign", [3])],
    ]  # fmt: skip
    assert len({line["uuid"] for line in lines}) == 4 and lines[0]["uuid"] == "u"
    assert lines[3]["confidence"] == 0.5
    # The first picture: road and car in their colours, nothing else.
    picture = np.asarray(Image.open(local_path(common[0].frames[0].instance_uri)))
    colours = [tuple(i.color_rgb) for i in common[0].instances]
    assert picture.shape == (H, W, 3) and len(set(colours)) == 2
    assert ((picture == colours[0]).all(axis=2) == road.astype(bool)).all()
    assert ((picture == colours[1]).all(axis=2) == car.astype(bool)).all()
    assert ((picture != 0).any(axis=2) == (road | car).astype(bool)).all()
    assert {local_path(f.instance_uri).parent for c in common for f in c.frames} == {
        out.parent / "predictions-masks"
    }
    with workbench.open(tmp_path / "b.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            _frames(writer, 3)
        assert labelbox.import_files(cat, [out], progress=False).ok
        assert _pixels(cat, "true") == before


def _coco_file(path: Path) -> dict[str, np.ndarray]:
    """A COCO instances file of two images with RLE masks (pycocotools' encoding)."""
    mask_utils = pytest.importorskip("pycocotools.mask")
    masks = {"a-1": _box(1, 1, 4, 6), "a-2": _box(3, 8, 5, 9), "b-1": _box(0, 0, 10, 3)}
    annotations = []
    for n, (name, pixels) in enumerate(masks.items(), start=1):
        encoded = mask_utils.encode(np.asfortranarray(pixels))
        annotations.append({"id": n, "image_id": 1 if name.startswith("a") else 2,
                            "category_id": 1 + (n % 2), "iscrowd": 0, "area": float(pixels.sum()),
                            "bbox": [0, 0, 1, 1], "segmentation": {
                                "size": [H, W], "counts": encoded["counts"].decode()}})  # fmt: skip
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": W, "height": H},
                   {"id": 2, "file_name": "b.jpg", "width": W, "height": H}],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "road"}],
        "annotations": annotations,
    }))  # fmt: skip
    return masks


def test_coco_rle_masks_exported_to_labelbox_and_back(tmp_path):
    """COCO's RLE masks, imported by the COCO importer, exported as Labelbox video masks and
    imported from that file onto the same images: the same pixels under the same labels."""
    source = tmp_path / "instances.json"
    _coco_file(source)
    with workbench.open(tmp_path / "a.duckdb") as cat:
        assert coco.import_files(cat, [source], progress=False).ok
        before = _pixels(cat, "field = 'ground_truth'")
        out = tmp_path / "lb.ndjson"
        report = labelbox.export_files(cat.view(), out, progress=False, field="ground_truth")
        assert report.rois == 3 and not report.skipped
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        for line in lines:
            objects.NDVideoMasks.model_validate(line).to_common()
        assert labelbox.import_files(cat, [out], progress=False).ok
        assert _pixels(cat, "field = 'predictions'") == before
    assert len(before) == 3 and len(lines) == 3


def test_masks_url_names_the_pictures_under_it(tmp_path):
    """With `masks_url` the pictures (copied and painted) are named under it, at their place
    beside the file; the SDK reads the URIs; without it they are local URIs as before; a base
    that is no URL with a host is refused."""
    picture = tmp_path / "m" / "1.png"
    picture.parent.mkdir()
    Image.fromarray(np.zeros((H, W, 3), dtype=np.uint8)).save(picture)
    rois = {0: [_mask("a", "road", _box(0, 0, 2, 2), 0),
                Roi("p", "mask", ["car"], "predictions", track_index=1,
                    mask={"uri": str(picture), "value": [255, 0, 0]})]}  # fmt: skip
    with workbench.open(tmp_path / "a.duckdb") as cat:
        cat.add_media_roots([tmp_path / "m"], origin="option")
        with CatalogWriter(cat, progress=False) as writer:
            _frames(writer, 1, rois)
        out = tmp_path / "up" / "run 1.ndjson"
        out.parent.mkdir()
        base = "https://cdn.example.com/exports/"
        report = labelbox.export_files(cat.view(), out, progress=False, masks_url=base)
        assert report.rois == 2 and not report.skipped
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        uris = [objects.NDVideoMasks.model_validate(line).to_common().frames[0].instance_uri
                for line in lines]  # fmt: skip
        assert sorted(uris) == [
            "https://cdn.example.com/exports/run%201-masks/000001.png",
            "https://cdn.example.com/exports/run%201-masks/000002.png",
        ]
        assert sorted(p.name for p in (out.parent / "run 1-masks").iterdir()) == [
            "000001.png", "000002.png",
        ]  # fmt: skip
        labelbox.export_files(cat.view(), out, progress=False)
        local = [json.loads(line)["masks"]["frames"][0]["instanceURI"]
                 for line in out.read_text().splitlines()]  # fmt: skip
        assert all(u.startswith("file://localhost/") for u in local)
        for wrong in ("cdn.example.com/exports", "/srv/exports", "file:///srv", ""):
            with pytest.raises(IngestError, match="masks_url"):
                labelbox.export_files(cat.view(), out, progress=False, masks_url=wrong)
