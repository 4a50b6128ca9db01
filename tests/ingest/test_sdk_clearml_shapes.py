"""Every shape ClearML's SDK (`DataSubEntryImage.add_annotation`) writes, judged by the SDK
itself: 2D boxes, polygons, keypoints, RGB masks and frame classes import and come back through
`from_api_object` / `to_api_object` with every field; ellipses and 3D shapes, which the catalog
cannot hold, are refused with their frame, named, instead of being read as 2D polygons."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import clearml

hyper = pytest.importorskip("clearml.hyperdatasets")

UNSUPPORTED = {
    "ellipse2d_xyrrt": ((50, 50, 10, 5, 0.3), "elp", "an ellipse"),
    "poly3d_xyz": ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "p3d", "a 3D polygon"),
    "points3d_xyz": ([1, 2, 3, 4, 5, 6], "k3d", "3D keypoints"),
    "box3d_xyzwhxyzwh": (list(range(10)), "b3d", "a 3D box"),
}


def _frame(n: int) -> dict:
    """A frame of two cameras holding every 2D shape the SDK writes."""
    entry = hyper.DataEntryImage(data_entry_id=f"f{n}",
                                 metadata={"weather": "rain", "deep": {"a": [1, {"b": None}]}})  # fmt: skip
    front = hyper.DataSubEntryImage(name="front", source=f"s3://b/f{n}.jpg", width=640, height=480,
                                    timestamp=n, context_id="drive", metadata={"cam": "F"},
                                    masks_source=[f"s3://b/m{n}.png", f"s3://b/n{n}.png"])  # fmt: skip
    rear = hyper.DataSubEntryImage(name="rear", source=f"s3://b/r{n}.jpg",
                                   preview_source=f"s3://b/p{n}.jpg")  # fmt: skip
    entry.add_sub_entries([front, rear])
    meta = {"occluded": True, "nested": {"k": [1, 2]}}
    front.add_annotation(box2d_xywh=(10, 20, 30, 40), labels=["car"], confidence=0.25,
                         metadata=meta, id="car-1")  # fmt: skip
    front.add_annotation(poly2d_xy=[(1, 2), (10, 2), (10, 9), (1, 9)], labels=["sign", "red"])
    front.add_annotation(points2d_xy=[4, 4], labels=["nose"], confidence=1.0)
    front.add_annotation(mask_rgb=(255, 0, 7), labels=["road"])
    rear.add_annotation(frame_class=["day"])
    return entry.to_api_object()


def _with(frame: dict, shape: str) -> dict:
    """`frame` with one more ROI on its front camera, of a shape the catalog cannot hold."""
    entry = hyper.DataEntryImage.from_api_object(frame)
    front = next(s for s in entry.sub_data_entries if s.name == "front")
    front.add_annotation(**{shape: UNSUPPORTED[shape][0]}, labels=[shape])
    return entry.to_api_object()


def _write(path: Path, frames: list[dict]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(frames))
    else:
        path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    return path


def _rows(catalog) -> dict[str, list[tuple]]:
    return {
        "frames": catalog.sql("SELECT id, context_id, metadata FROM frames ORDER BY id").fetchall(),
        "sources": catalog.sql(
            "SELECT frame_id, id, uri, width, height, timestamp, preview_uri, masks "
            "FROM sources ORDER BY frame_id, id"
        ).fetchall(),
        "rois": catalog.sql(
            "SELECT frame_id, id, labels, kind, geometry, confidence, source_ids, mask, "
            "attributes FROM rois ORDER BY frame_id, id"
        ).fetchall(),
    }


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
@pytest.mark.parametrize("shape", sorted(UNSUPPORTED))
def test_shapes_the_catalog_cannot_hold_cost_their_frame_only(tmp_path, shape, suffix):
    frames = [_frame(0), _with(_frame(1), shape), _frame(2)]
    path = _write(tmp_path / f"sdk{suffix}", frames)
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = clearml.import_files(catalog, [path], progress=False)
        where = f"{path} line 2" if suffix == ".ndjson" else f"{path} [index 1]"
        _, sdk_type, words = UNSUPPORTED[shape]
        assert [(e.where, e.problem) for e in report.errors] == [
            (f"{where}, frame 'f1', ROI 'f1:4'",
             f"meta._type '{sdk_type}' marks {words}"
             + (" (cx, cy, rx, ry, angle)" if sdk_type == "elp" else "")
             + ", which the catalog cannot hold (only 2D boxes, polygons, points and masks)")
        ]  # fmt: skip
        assert [r[0] for r in _rows(catalog)["frames"]] == ["f0", "f2"]


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_every_2d_shape_of_the_sdk_imports_as_meant(tmp_path, suffix):
    path = _write(tmp_path / f"sdk{suffix}", [_frame(n) for n in range(2)])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = clearml.import_files(catalog, [path], progress=False)
        assert report.ok and report.warnings == {}, report
        rows = _rows(catalog)
    rois = [(r[1], r[2], r[3], r[5], r[6], r[7]) for r in rows["rois"] if r[0] == "f1"]
    assert rois == [
        ("car-1", ["car"], "box", 0.25, ["front"], None),  # the SDK's id, meta._id
        ("f1:1", ["sign", "red"], "polygon", None, ["front"], None),
        ("f1:2", ["nose"], "point", 1.0, ["front"], None),
        ("f1:3", ["road"], "mask", None, ["front"], '{"id":"00","value":[255,0,7]}'),
        ("f1:4", [], "classification", None, ["rear"], None),
    ]
    sources = [r[1:] for r in rows["sources"] if r[0] == "f1"]
    assert sources == [
        ("front", "s3://b/f1.jpg", 640, 480, 1, None,
         '[{"id":"00","uri":"s3://b/m1.png"},{"id":"01","uri":"s3://b/n1.png"}]'),
        ("rear", "s3://b/r1.jpg", None, None, None, "s3://b/p1.jpg", None),
    ]  # fmt: skip


def test_a_round_trip_through_the_sdk_keeps_every_field(tmp_path):
    path = _write(tmp_path / "sdk.ndjson", [_frame(n) for n in range(3)])
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        assert clearml.import_files(catalog, [path], progress=False).ok
        before = _rows(catalog)
        clearml.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
    exported = [json.loads(t) for t in (tmp_path / "out.ndjson").read_text().splitlines()]
    entries = [hyper.DataEntryImage.from_api_object(frame) for frame in exported]
    subs = {s.name: s for s in entries[1].sub_data_entries}
    # What the SDK reads of our export: the cameras, their masks, previews and metadata (the
    # SDK keeps metadata in `_metadata`, with no public getter).
    assert subs["front"].get_masks_source_dict() == {"00": "s3://b/m1.png", "01": "s3://b/n1.png"}
    assert subs["front"]._metadata == {"cam": "F"}
    assert subs["rear"].get_source("preview_source") == "s3://b/p1.jpg"
    assert entries[1]._metadata["deep"] == {"a": [1, {"b": None}]}
    front = subs["front"].get_all_annotations()
    assert [(a["meta"]["_type"], a.get("confidence")) for a in front] == [
        ("b2d", 0.25), ("p2d", None), ("k2d", 1.0), ("mask", None)]  # fmt: skip
    assert front[3]["mask"] == {"id": "00", "value": [255, 0, 7]}
    assert subs["front"].get_annotations(id="car-1")[0]["meta"]["nested"] == {"k": [1, 2]}
    assert [a.get("label") or None for a in subs["rear"].get_all_annotations()] == [None]
    # Written again by the SDK, the frames import as the same rows, field by field.
    again = _write(tmp_path / "again.ndjson", [e.to_api_object() for e in entries])
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        assert clearml.import_files(catalog, [again], progress=False).ok
        after = _rows(catalog)
    assert after["sources"] == before["sources"]
    assert after["rois"] == before["rois"]
    assert [json.loads(m) for _, _, m in after["frames"]] == [
        json.loads(m) for _, _, m in before["frames"]
    ]


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_a_type_that_is_not_text_is_an_attribute(tmp_path, suffix):
    """Only a string `_type` is the SDK's; a list there is kept as written, not a crash."""
    frame = {"id": "a", "sources": [{"id": "s", "uri": "s3://a.jpg"}],
             "rois": [{"poly": [1, 2, 3, 4, 5, 6], "meta": {"_type": ["p3d"]}}]}  # fmt: skip
    path = _write(tmp_path / f"t{suffix}", [frame])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = clearml.import_files(catalog, [path], progress=False)
        assert report.ok, report
        assert catalog.sql("SELECT kind, attributes FROM rois").fetchall() == [
            ("polygon", '{"_type":["p3d"]}')
        ]
