"""Labelbox video masks exported: each mask ROI of a picture and a colour is an instance of a
video masks line (the SDK's NDVideoMasks), its picture copied beside the file and named by a
local URI; importing the file again gives the same masks on the same tracks and frames. Masks
the format cannot carry (neither a picture nor RLE, remote pictures, pictures outside the media
roots) are counted with their reason (RLE masks: test_labelbox_rle_masks_export.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import workbench
from workbench.ingest import CatalogWriter, Frame, Roi, Source, labelbox
from workbench.ingest import _labelbox_export as export
from workbench.media.images import local_path

VIDEO = "clip.mp4"
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _picture(path: Path, shift: int) -> Path:
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[1:4, 2 + shift : 6 + shift] = RED
    pixels[6:9, 10:12] = BLUE
    pixels[0, 0] = GREEN
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def _frames(writer: CatalogWriter, context: str, count: int, rois=None) -> None:
    for n in range(count):
        writer.add(Frame(f"{context}-{n + 1}", context_id=context, frame_index=n,
                         sources=[Source("image", f"/v/{context}/{n}.jpg", 20, 10)],
                         rois=(rois or {}).get(n, [])))  # fmt: skip


def _masks(catalog) -> list[tuple]:
    """Each mask ROI as (frame, id, label, colour, track, uuid, the picture's bytes)."""
    rows = catalog.sql(
        "SELECT frame_id, id, label, mask, track_index, attributes->>'$.uuid' FROM rois "
        "WHERE kind = 'mask' AND starts_with(frame_id, ?) ORDER BY frame_id, id",
        params=[VIDEO],
    ).fetchall()
    out = []
    for frame, roi, label, mask, track, uuid in rows:
        spec = json.loads(mask)
        out.append((frame, roi, label, spec["value"], track, uuid,
                    local_path(spec["uri"]).read_bytes()))  # fmt: skip
    return out


def _mask(roi: str, label: str, uri: str, colour, track: int | None, uuid: str | None) -> Roi:
    return Roi(roi, "mask", [label], "predictions", mask={"uri": uri, "value": list(colour)},
               track_index=track, attributes={"uuid": uuid} if uuid else {})  # fmt: skip


def test_video_masks_export_as_the_sdk_reads_them_and_import_again(tmp_path):
    lb = pytest.importorskip("labelbox.types")
    serialization = pytest.importorskip("labelbox.data.serialization")
    objects = pytest.importorskip("labelbox.data.serialization.ndjson.objects")
    first, third = _picture(tmp_path / "in/m/1.png", 0), _picture(tmp_path / "in/m/3.png", 4)
    masks = lb.VideoMaskAnnotation(
        frames=[lb.MaskFrame(index=1, instance_uri=f"file://localhost{first}"),
                lb.MaskFrame(index=3, instance_uri=f"file://localhost{third}")],
        instances=[lb.MaskInstance(color_rgb=RED, name="road"),
                   lb.MaskInstance(color_rgb=BLUE, name="car")],
    )  # fmt: skip
    box = lb.Rectangle(start=lb.Point(x=1, y=2), end=lb.Point(x=6, y=6))
    bus = [lb.VideoObjectAnnotation(name="bus", keyframe=True, frame=n, segment_index=0,
                                    value=box) for n in (1, 2)]  # fmt: skip
    label = lb.Label(data={"global_key": VIDEO}, annotations=[masks, *bus])
    source = tmp_path / "in/sdk.ndjson"
    source.write_text(
        "".join(
            json.dumps(line) + "\n" for line in serialization.NDJsonConverter.serialize([label])
        )
    )
    elsewhere = _picture(tmp_path / "elsewhere/x.png", 0)
    odd = {0: [_mask("far", "road", str(elsewhere), RED, 0, None),
               _mask("web", "road", "https://example.com/m.png", RED, 1, None),
               Roi("odd", "mask", ["road"], "predictions", mask={"polygon": [1, 2]})]}  # fmt: skip
    with workbench.open(tmp_path / "a.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            _frames(writer, VIDEO, 3)
            _frames(writer, "other.mp4", 1, odd)
        assert labelbox.import_files(cat, [source], progress=False).ok
        before = _masks(cat)
        out = tmp_path / "out/predictions.ndjson"
        out.parent.mkdir()
        report = labelbox.export_files(cat.view(), out, progress=False)
    assert len(before) == 4
    assert sorted(report.skipped) == [
        "1 mask ROIs given neither as a picture and an RGB colour nor as RLE",
        "1 mask ROIs whose picture is not a local file (nothing is fetched)",
        "1 mask ROIs whose picture is outside the media roots",
    ]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [sorted(line) for line in lines] == [
        ["dataRow", "masks", "uuid"], ["classifications", "dataRow", "name", "segments", "uuid"],
    ]  # fmt: skip
    objects.NDSegments.model_validate(lines[1])
    # The SDK's own model reads the line, and its common type holds our masks.
    common = objects.NDVideoMasks.model_validate(lines[0]).to_common()
    assert [(i.name, tuple(i.color_rgb)) for i in common.instances] == [
        ("road", RED),
        ("car", BLUE),
    ]
    assert [f.index for f in common.frames] == [1, 3]
    copies = [local_path(f.instance_uri) for f in common.frames]
    assert [c.parent for c in copies] == [out.parent / "predictions-masks"] * 2
    assert [c.read_bytes() for c in copies] == [first.read_bytes(), third.read_bytes()]
    # Imported again: the same masks, ids, tracks and frames (the pictures' copies).
    with workbench.open(tmp_path / "b.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            _frames(writer, VIDEO, 3)
        assert labelbox.import_files(cat, [out], progress=False).ok
        assert _masks(cat) == before
        assert cat.sql(
            "SELECT frame_id, label, track_index FROM rois WHERE kind = 'box' ORDER BY 1"
        ).fetchall() == [("clip.mp4-1", "bus", 2), ("clip.mp4-2", "bus", 2)]


def test_instances_on_other_frames_get_lines_of_their_own(tmp_path, monkeypatch):
    """Instances of one uuid on other frames, or of a colour the line has, cannot share a
    line: each gets one of its own, its uuid made unique, and an import of the file puts
    every mask back on its frames and track."""
    pics = [_picture(tmp_path / f"m/{n}.png", n) for n in range(4)]
    rois = {
        0: [_mask("a", "road", str(pics[0]), RED, 0, "u"), _mask("b", "car", str(pics[0]), BLUE, 1, "u"),
            _mask("c", "lane", str(pics[0]), RED, 2, "u"), _mask("d", "sky", str(pics[3]), GREEN, 3, None)],
        1: [_mask("a", "road", str(pics[1]), RED, 0, "u"), _mask("b", "car", str(pics[1]), BLUE, 1, "u"),
            _mask("c", "lane", str(pics[1]), RED, 2, "u"), _mask("a2", "road", str(pics[1]), RED, 0, "u")],
        2: [_mask("e", "truck", str(pics[2]), GREEN, 4, "u")],
    }  # fmt: skip
    with workbench.open(tmp_path / "a.duckdb") as cat:
        cat.add_media_roots([tmp_path / "m"], origin="option")
        with CatalogWriter(cat, progress=False) as writer:
            _frames(writer, VIDEO, 4, rois)
        out = tmp_path / "out.ndjson"
        report = labelbox.export_files(cat.view(), out, progress=False)
        text = out.read_text()
        monkeypatch.setattr(export, "_BY_SQL", False)
        assert labelbox.export_files(cat.view(), out, progress=False).skipped == report.skipped
        assert out.read_text() == text
        stored = [(frame, label, colour, track, picture)
                  for frame, roi, label, colour, track, _, picture in _masks(cat) if roi != "a2"]  # fmt: skip
    assert report.skipped == ["1 mask ROIs on a frame their track already has"]
    assert report.rois == 8 and report.frames == 3
    lines = [json.loads(line) for line in text.splitlines()]
    assert [[(i["name"], [f["index"] for f in line["masks"]["frames"]])
             for i in line["masks"]["instances"]] for line in lines] == [
        [("road", [1, 2]), ("car", [1, 2])], [("lane", [1, 2])], [("sky", [1])], [("truck", [3])],
    ]  # fmt: skip
    assert len({line["uuid"] for line in lines}) == 4 and lines[0]["uuid"] == "u"
    with workbench.open(tmp_path / "b.duckdb") as cat:
        with CatalogWriter(cat, progress=False) as writer:
            _frames(writer, VIDEO, 4)
        assert labelbox.import_files(cat, [out], progress=False).ok
        again = [(frame, label, colour, track, picture)
                 for frame, _, label, colour, track, _, picture in _masks(cat)]  # fmt: skip
    assert sorted(again) == sorted(stored) and len(stored) == 8
