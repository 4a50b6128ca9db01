"""ClearML's own SDK as the judge (`clearml.hyperdatasets`): frames it builds the way ClearML's
server takes them (DataEntryImage.to_api_object) import as meant, and our exports read back
through DataEntryImage.from_api_object keep every source and ROI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import workbench
from workbench.ingest import clearml

hyper = pytest.importorskip("clearml.hyperdatasets")


def _sdk_frame(n: int) -> dict:
    entry = hyper.DataEntryImage(data_entry_id=f"f{n}", metadata={"weather": "rain", "n": n})
    front = hyper.DataSubEntryImage(name="front", source=f"s3://b/front/{n}.jpg", width=640,
                                    height=480, timestamp=n * 100, context_id="drive-1")  # fmt: skip
    rear = hyper.DataSubEntryImage(name="rear", source=f"s3://b/rear/{n}.jpg", width=320,
                                   height=240)  # fmt: skip
    entry.add_sub_entries([front, rear])
    front.add_annotation(box2d_xywh=(10, 20, 30, 40), labels=["car"], confidence=0.9,
                         metadata={"occluded": True})  # fmt: skip
    rear.add_annotation(poly2d_xy=[1, 2, 10, 2, 10, 9, 1, 9], labels=["sign"])
    rear.add_annotation(points2d_xy=[4, 4, 6, 6, 8, 4], labels=["face"])
    return entry.to_api_object()


def _write(path: Path, frames: list[dict]) -> Path:
    path.write_text("".join(json.dumps(f) + "\n" for f in frames))
    return path


def _rois(catalog) -> list[tuple]:
    return catalog.sql(
        "SELECT frame_id, label, kind, geometry, confidence, source_ids, "
        "attributes->>'$.occluded' FROM rois ORDER BY frame_id, label"
    ).fetchall()


def test_frames_the_sdk_built_import_as_meant(tmp_path):
    path = _write(tmp_path / "sdk.ndjson", [_sdk_frame(n) for n in range(3)])
    with workbench.open(tmp_path / "c.duckdb") as catalog:
        report = clearml.import_files(catalog, [path], progress=False)
        assert report.ok and report.warnings == {}, report
        frame = catalog.sql(
            "SELECT context_id, weather, metadata->>'$.n' FROM frames WHERE id = 'f1'"
        ).fetchall()
        assert frame == [("drive-1", "rain", "1")]
        sources = catalog.sql(
            "SELECT id, uri, width, height, timestamp FROM sources WHERE frame_id = 'f1' "
            "ORDER BY id"
        ).fetchall()
        assert sources == [("front", "s3://b/front/1.jpg", 640, 480, 100),
                           ("rear", "s3://b/rear/1.jpg", 320, 240, None)]  # fmt: skip
        rois = [r for r in _rois(catalog) if r[0] == "f1"]
    box = [10.0, 20.0, 40.0, 20.0, 40.0, 60.0, 10.0, 60.0]
    assert rois == [
        ("f1", "car", "box", [box], 0.9, ["front"], "true"),
        # Three keypoints stay points (the SDK's k2d), not a polygon.
        ("f1", "face", "point", [[4.0, 4.0, 6.0, 6.0, 8.0, 4.0]], None, ["rear"], None),
        # An upright four-corner polygon stays a polygon (the SDK's p2d), not a box.
        ("f1", "sign", "polygon", [[1.0, 2.0, 10.0, 2.0, 10.0, 9.0, 1.0, 9.0]], None, ["rear"],
         None),
    ]  # fmt: skip


def test_our_export_reads_back_through_the_sdk_and_round_trips(tmp_path):
    path = _write(tmp_path / "sdk.ndjson", [_sdk_frame(n) for n in range(3)])
    with workbench.open(tmp_path / "a.duckdb") as catalog:
        assert clearml.import_files(catalog, [path], progress=False).ok
        before = _rois(catalog)
        clearml.export_files(catalog.view(), tmp_path / "out.ndjson", progress=False)
    exported = [json.loads(t) for t in (tmp_path / "out.ndjson").read_text().splitlines()]
    entries = [hyper.DataEntryImage.from_api_object(frame) for frame in exported]
    assert [e.id for e in entries] == ["f0", "f1", "f2"]
    subs = {s.name: s for s in entries[1].sub_data_entries}
    assert sorted(subs) == ["front", "rear"]
    assert subs["front"].get_source("source") == "s3://b/front/1.jpg"
    front = subs["front"].get_all_annotations()
    assert [(a["label"], a["meta"]["_type"]) for a in front] == [(["car"], "b2d")]
    rear = sorted(subs["rear"].get_all_annotations(), key=lambda a: a["label"])
    assert [(a["label"], a["meta"]["_type"]) for a in rear] == [(["face"], "k2d"),
                                                               (["sign"], "p2d")]  # fmt: skip
    # The SDK writes the frames again; importing them gives the same ROIs.
    again = _write(tmp_path / "again.ndjson", [e.to_api_object() for e in entries])
    with workbench.open(tmp_path / "b.duckdb") as catalog:
        assert clearml.import_files(catalog, [again], progress=False).ok
        assert _rois(catalog) == before
